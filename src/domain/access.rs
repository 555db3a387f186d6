//! Who may do what: the one place the pages, the menus and the services ask. Both roles see
//! every token of their account; an admin manages all of them and the team, a member only the
//! tokens they created; an API key manages only tokens holding nothing it lacks.

use super::ids::{AccountId, TokenId, UserId};
use super::module::ModuleSet;
use super::user::Role;
use chrono::NaiveDateTime;

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

/// Who did something: a signed-in user, or a token acting through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

impl Actor {
    pub fn user(id: &UserId, name: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_owned(),
        }
    }

    pub fn token(id: &TokenId, name: &str) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_owned(),
        }
    }
}

/// Who asks for a change, for which account, from where and when: what every change checks
/// and records. `at` is the time of the request (the application's clock), which every row the
/// change writes is stamped with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub account_id: AccountId,
    pub actor: Actor,
    pub client_ip: Option<String>,
    pub reach: Reach,
    pub at: NaiveDateTime,
}

/// Which of the account's tokens a requester may manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A person of the account, as their role allows (see `access`).
    Person(Person),
    /// An API key: a token must not reach, through the tokens it manages, what it cannot reach
    /// itself; so it manages only tokens holding nothing it lacks, and grants only what it holds.
    Modules(ModuleSet),
}

impl Reach {
    /// Whether an existing token, made by `creator` and holding `modules`, may be managed; if
    /// not, why.
    pub fn may_manage(&self, creator: &Actor, modules: &ModuleSet) -> Result<(), String> {
        match self {
            Self::Person(person) => person.may_manage_token(creator),
            Self::Modules(_) => self.covers(modules),
        }
    }

    /// Whether a token holding (or about to hold) `modules` is within reach; if not, why.
    pub fn covers(&self, modules: &ModuleSet) -> Result<(), String> {
        let Self::Modules(held) = self else {
            return Ok(());
        };
        let lacking: Vec<&str> = held.lacking(modules).map(|m| m.id).collect();
        if lacking.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "This key does not hold {}: it can neither grant that nor manage a token that \
                 holds it.",
                lacking.join(", ")
            ))
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

    #[test]
    fn a_key_reaches_no_further_than_its_own_modules() {
        let key = Reach::Modules(ModuleSet::parse(["MD-0002", "MD-0007"]).unwrap());
        let within = ModuleSet::parse(["MD-0002"]).unwrap();
        assert_eq!(key.covers(&within), Ok(()));
        let beyond = ModuleSet::parse(["MD-0002", "MD-0001"]).unwrap();
        assert!(key.covers(&beyond).unwrap_err().contains("MD-0001"));
        assert!(
            key.covers(&ModuleSet::all())
                .unwrap_err()
                .contains("MD-0000")
        );
        assert_eq!(
            Reach::Modules(ModuleSet::all()).covers(&ModuleSet::all()),
            Ok(())
        );
    }
}
