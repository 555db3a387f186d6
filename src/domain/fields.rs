//! The fields each collection can be filtered and ordered on, by the names clients use.

use super::query::Field;

/// A token's fields, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    Id,
    Name,
    ExternalId,
    Status,
    ExtensionId,
    ExtensionName,
    CreatedAt,
    CreatedBy,
    UpdatedAt,
    ExpirationDate,
    Permission,
    /// Not offered by the API (the token object does not show it); the review filters on it.
    LastUsedAt,
    /// The last use of a module the token holds (every module for All; never used counts as
    /// the earliest): `le` selects the tokens holding a module not used since then. Not offered
    /// by the API; the review's `overgranted` filters on it.
    HeldModuleLastUsedAt,
    /// `broken`: the token breaks the account's policy (its key refused with `AUTH_009`);
    /// `kept`: it does not. Not a field of the token object: a question about it.
    Policy,
}

impl Field for TokenField {
    const ALL: &'static [Self] = &[
        Self::Id,
        Self::Name,
        Self::ExternalId,
        Self::Status,
        Self::ExtensionId,
        Self::ExtensionName,
        Self::CreatedAt,
        Self::CreatedBy,
        Self::UpdatedAt,
        Self::ExpirationDate,
        Self::Permission,
        Self::LastUsedAt,
        Self::HeldModuleLastUsedAt,
        Self::Policy,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "name",
            Self::ExternalId => "external_id",
            Self::Status => "status",
            Self::ExtensionId => "extension.id",
            Self::ExtensionName => "extension.name",
            Self::CreatedAt => "events.created.at",
            Self::CreatedBy => "events.created.by.id",
            Self::UpdatedAt => "events.updated.at",
            Self::ExpirationDate => "expiration_date",
            Self::Permission => "permissions.object.id",
            Self::LastUsedAt => "last_used.at",
            Self::HeldModuleLastUsedAt => "permissions.last_used.at",
            Self::Policy => "policy",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::CreatedAt => &["created"],
            Self::UpdatedAt => &["updated"],
            _ => &[],
        }
    }

    fn filterable(self) -> bool {
        !matches!(
            self,
            Self::UpdatedAt | Self::LastUsedAt | Self::HeldModuleLastUsedAt
        )
    }

    fn sortable(self) -> bool {
        !matches!(
            self,
            Self::ExtensionName
                | Self::CreatedBy
                | Self::Permission
                | Self::LastUsedAt
                | Self::HeldModuleLastUsedAt
                | Self::Policy
        )
    }
}

/// An agreement's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgreementField {
    Id,
    Type,
    Title,
    Name,
    Description,
    Active,
    CreatedAt,
    UpdatedAt,
}

impl Field for AgreementField {
    const ALL: &'static [Self] = &[
        Self::Id,
        Self::Type,
        Self::Title,
        Self::Name,
        Self::Description,
        Self::Active,
        Self::CreatedAt,
        Self::UpdatedAt,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Type => "type",
            Self::Title => "title",
            Self::Name => "name",
            Self::Description => "description",
            Self::Active => "active",
            Self::CreatedAt => "events.created.at",
            Self::UpdatedAt => "events.updated.at",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::CreatedAt => &["created"],
            Self::UpdatedAt => &["updated"],
            _ => &[],
        }
    }

    fn sortable(self) -> bool {
        self != Self::Description
    }
}

/// The fields of the small collections held in memory (modules, the caller's account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedField {
    Id,
    Name,
}

impl Field for NamedField {
    const ALL: &'static [Self] = &[Self::Id, Self::Name];

    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "name",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<F: Field>() {
        for field in F::ALL {
            assert_eq!(F::parse(field.name()), Some(*field));
            for alias in field.aliases() {
                assert_eq!(F::parse(alias), Some(*field));
            }
        }
        assert_eq!(F::parse("nope"), None);
    }

    #[test]
    fn every_name_and_alias_finds_its_field() {
        round_trips::<TokenField>();
        round_trips::<AgreementField>();
        round_trips::<NamedField>();
    }

    #[test]
    fn the_documented_token_fields_filter() {
        let filterable: Vec<&str> = TokenField::ALL
            .iter()
            .filter(|f| f.filterable())
            .map(|f| f.name())
            .collect();
        assert_eq!(
            filterable,
            [
                "id",
                "name",
                "external_id",
                "status",
                "extension.id",
                "extension.name",
                "events.created.at",
                "events.created.by.id",
                "expiration_date",
                "permissions.object.id",
                "policy"
            ]
        );
    }
}
