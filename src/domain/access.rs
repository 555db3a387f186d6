//! Who may do what: the one place the pages, the menus and the database layer ask. Both roles
//! see every token of their account; an admin manages all of them and the team, a member only
//! the tokens they created.

use super::ids::UserId;
use super::token::Actor;
use super::user::Role;

/// A signed-in person, as far as permissions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: UserId,
    pub role: Role,
}

impl Person {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Edit, rotate, disable, enable, delete or reveal a token made by `creator`; if not, why.
    pub fn may_manage_token(&self, creator: &Actor) -> Result<(), String> {
        if self.is_admin() || creator.id == self.user_id.as_str() {
            Ok(())
        } else {
            Err(format!(
                "Only an admin or the token's creator ({}) can change it, reveal its key or \
                 delete it. Members manage the tokens they created.",
                creator.name
            ))
        }
    }

    /// The team and the account's activity are for admins.
    pub fn may_administer(&self) -> Result<(), String> {
        if self.is_admin() {
            Ok(())
        } else {
            Err("Only an admin of the account can see this page.".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_manage_what_they_made_and_admins_everything() {
        let ann = UserId::parse("UR-100-200-300").unwrap();
        let bob = UserId::parse("UR-400-500-600").unwrap();
        let by_ann = Actor::user(&ann, "Ann");
        let by_bob = Actor::user(&bob, "Bob");
        let member = Person {
            user_id: ann.clone(),
            role: Role::Member,
        };
        let admin = Person {
            user_id: bob.clone(),
            role: Role::Admin,
        };
        assert_eq!(member.may_manage_token(&by_ann), Ok(()));
        assert!(
            member
                .may_manage_token(&by_bob)
                .unwrap_err()
                .contains("Bob")
        );
        assert_eq!(admin.may_manage_token(&by_ann), Ok(()));
        assert_eq!(admin.may_manage_token(&by_bob), Ok(()));
        assert!(member.may_administer().is_err());
        assert!(admin.may_administer().is_ok());
    }
}
