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

    /// Edit, rotate, disable, enable, delete or reveal a token owned by `owner` (who made it,
    /// or was handed it); if not, why.
    pub fn may_manage_token(&self, owner: &Actor) -> Result<(), String> {
        if self.is_admin() || owner.id == self.user_id.as_str() {
            Ok(())
        } else {
            Err(format!(
                "Only an admin or the token's owner ({}) can change it, reveal its key or \
                 delete it. Members manage the tokens they own.",
                owner.name
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

    /// Someone not signed in: who a failed sign-in is recorded as made by.
    pub fn unknown() -> Self {
        Self {
            id: "-".into(),
            name: "unknown".into(),
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
    /// A person of the account, as their role allows (see `Person`).
    Person(Person),
    /// An API key, acting for its owner: it manages only what its owner may (a member's key,
    /// that member's tokens; the key of a user since deactivated, nothing), and a token must not
    /// reach, through the tokens it manages, what it cannot reach itself: so it manages only
    /// tokens holding nothing it lacks, and grants only what it holds.
    Key {
        modules: ModuleSet,
        /// The key's owner, while they are an active user of the account.
        owner: Option<Owner>,
    },
}

/// Who a key acts for: a user of the account, and what their role lets them do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub person: Person,
    pub actor: Actor,
}

/// Why a key whose owner is gone manages nothing.
pub const OWNER_GONE: &str = "This key's owner is no longer an active user of the account: it can \
    neither make nor change tokens. An admin can hand its token to another user.";

impl Reach {
    /// Whether an existing token, owned by `owner` and holding `modules`, may be managed; if
    /// not, why.
    pub fn may_manage(&self, owner: &Actor, modules: &ModuleSet) -> Result<(), String> {
        match self {
            Self::Person(person) => person.may_manage_token(owner),
            Self::Key { owner: None, .. } => Err(OWNER_GONE.to_owned()),
            Self::Key {
                owner: Some(key_owner),
                ..
            } => {
                self.covers(modules)?;
                key_owner.person.may_manage_token(owner).map_err(|_| {
                    format!(
                        "This key acts for {}, a member, who manages only the tokens they \
                             own; {} owns this one.",
                        key_owner.actor.name, owner.name
                    )
                })
            }
        }
    }

    /// Whether a token holding (or about to hold) `modules` is within reach; if not, why.
    pub fn covers(&self, modules: &ModuleSet) -> Result<(), String> {
        let Self::Key { modules: held, .. } = self else {
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

    /// Whether this is an admin's reach: an admin's own, or the key of an admin (a key whose
    /// owner is gone is no one's).
    pub fn is_admin(&self) -> bool {
        match self {
            Self::Person(person) => person.is_admin(),
            Self::Key {
                owner: Some(owner), ..
            } => owner.person.is_admin(),
            Self::Key { owner: None, .. } => false,
        }
    }

    /// Whether what this reach asks for waits for an admin's approval where the account's
    /// policy says so: a member's, or the key of a member. An admin's never waits.
    pub fn waits_for_approval(&self) -> bool {
        !self.is_admin()
    }

    /// Who a token made now by `actor` with this reach belongs to: the person, or the key's
    /// owner; none for a key whose owner is gone.
    pub fn new_owner(&self, actor: &Actor) -> Result<Actor, String> {
        match self {
            Self::Person(_) => Ok(actor.clone()),
            Self::Key {
                owner: Some(owner), ..
            } => Ok(owner.actor.clone()),
            Self::Key { owner: None, .. } => Err(OWNER_GONE.to_owned()),
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
        let key = Reach::Key {
            modules: ModuleSet::parse(["MD-0002", "MD-0007"]).unwrap(),
            owner: None,
        };
        let within = ModuleSet::parse(["MD-0002"]).unwrap();
        assert_eq!(key.covers(&within), Ok(()));
        let beyond = ModuleSet::parse(["MD-0002", "MD-0001"]).unwrap();
        assert!(key.covers(&beyond).unwrap_err().contains("MD-0001"));
        assert!(
            key.covers(&ModuleSet::all())
                .unwrap_err()
                .contains("MD-0000")
        );
        let all = Reach::Key {
            modules: ModuleSet::all(),
            owner: None,
        };
        assert_eq!(all.covers(&ModuleSet::all()), Ok(()));
    }

    #[test]
    fn a_key_manages_only_what_its_owner_may() {
        let mia = UserId::parse("UR-100-200-300").unwrap();
        let robert = UserId::parse("UR-400-500-600").unwrap();
        let owner = |id: &UserId, name: &str, role| Owner {
            person: Person {
                user_id: id.clone(),
                role,
            },
            actor: Actor::user(id, name),
        };
        let key = |owner| Reach::Key {
            modules: ModuleSet::all(),
            owner,
        };
        let by_mia = Actor::user(&mia, "Mia");
        let by_robert = Actor::user(&robert, "Robert");
        let all = ModuleSet::all();
        let members_key = key(Some(owner(&mia, "Mia", Role::Member)));
        assert_eq!(members_key.may_manage(&by_mia, &all), Ok(()));
        assert!(
            members_key
                .may_manage(&by_robert, &all)
                .unwrap_err()
                .contains("Mia")
        );
        let admins_key = key(Some(owner(&robert, "Robert", Role::Admin)));
        assert_eq!(admins_key.may_manage(&by_mia, &all), Ok(()));
        let gone = key(None);
        assert_eq!(gone.may_manage(&by_mia, &all), Err(OWNER_GONE.to_owned()));
        assert!(gone.new_owner(&by_mia).is_err());
        assert_eq!(members_key.new_owner(&by_robert), Ok(by_mia));
    }
}
