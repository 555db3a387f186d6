//! What people fill in to create or edit a token, checked field by field so a form can show
//! each message beside its field. Shared by the wizard, the edit page and the CLI.

use super::extension::Extension;
use super::form::{FieldErrors, capitalised};
use super::module::{ModuleError, ModuleSet};
use super::text::{Description, ExternalId, TokenName};

/// The General step (and the top of the edit form), as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GeneralInput {
    pub name: String,
    pub external_id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct General {
    pub name: TokenName,
    pub external_id: ExternalId,
    pub description: Description,
}

impl GeneralInput {
    pub fn parse(&self) -> Result<General, FieldErrors> {
        let sent = GeneralChange::parse(
            Some(&self.name),
            Some(&self.external_id),
            Some(&self.description),
        )?;
        match sent {
            GeneralChange {
                name: Some(name),
                external_id: Some(external_id),
                description: Some(description),
            } => Ok(General {
                name,
                external_id,
                description,
            }),
            _ => Err(FieldErrors::default()),
        }
    }
}

/// The general fields a change sends (the API's PUT), each checked as the form checks it; those
/// not sent stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeneralChange {
    pub name: Option<TokenName>,
    pub external_id: Option<ExternalId>,
    pub description: Option<Description>,
}

impl GeneralChange {
    pub fn parse(
        name: Option<&str>,
        external_id: Option<&str>,
        description: Option<&str>,
    ) -> Result<Self, FieldErrors> {
        fn checked<T, E: std::fmt::Display>(
            errors: &mut FieldErrors,
            field: &'static str,
            sent: Option<Result<T, E>>,
        ) -> Option<T> {
            sent?.map_err(|e| errors.add(field, e.to_string())).ok()
        }
        let mut errors = FieldErrors::default();
        let change = Self {
            name: checked(&mut errors, "name", name.map(TokenName::parse)),
            external_id: checked(
                &mut errors,
                "external_id",
                external_id.map(ExternalId::parse),
            ),
            description: checked(
                &mut errors,
                "description",
                description.map(Description::parse),
            ),
        };
        if errors.is_empty() {
            Ok(change)
        } else {
            Err(errors)
        }
    }
}

/// The extension choice, as sent.
pub fn parse_extension(value: Option<&str>) -> Result<Extension, FieldErrors> {
    let mut errors = FieldErrors::default();
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => errors.add("extension", "Choose an extension"),
        Some(value) => match Extension::parse(value) {
            Ok(extension) => return Ok(extension),
            Err(e) => errors.add("extension", e.to_string()),
        },
    }
    Err(errors)
}

/// The Permissions step (and the bottom of the edit form), as sent: checked module ids and the
/// "All Modules" box.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PermissionsInput {
    pub modules: Vec<String>,
    pub all_modules: bool,
}

impl PermissionsInput {
    /// What the boxes ask for: All when its box is ticked, else the ticked modules.
    fn requested(&self) -> Result<ModuleSet, ModuleError> {
        if self.all_modules {
            return Ok(ModuleSet::all());
        }
        ModuleSet::parse(self.modules.iter().map(String::as_str))
    }

    /// The set a token of `extension` gets from this form. A fixed extension's form offers no
    /// choice (its boxes are disabled and send nothing), so nothing is read from it.
    pub fn parse(&self, extension: Extension) -> Result<ModuleSet, FieldErrors> {
        let requested = if extension.has_fixed_permissions() {
            Ok(extension.default_modules())
        } else {
            self.requested()
        };
        requested
            .and_then(|modules| extension.modules_for(modules))
            .map_err(|e| FieldErrors::one("modules", capitalised(&e.to_string())))
    }

    /// The form's state for a granted set, to pre-fill the edit form.
    pub fn from_set(set: &ModuleSet) -> Self {
        Self {
            all_modules: set.has_all(),
            modules: set
                .iter()
                .filter(|m| !m.is_all())
                .map(|m| m.id.to_owned())
                .collect(),
        }
    }

    pub fn is_checked(&self, module_id: &str) -> bool {
        self.modules.iter().any(|m| m == module_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(name: &str, external_id: &str, description: &str) -> GeneralInput {
        GeneralInput {
            name: name.into(),
            external_id: external_id.into(),
            description: description.into(),
        }
    }

    #[test]
    fn general_step() {
        let ok = general(" Tutorial ", "", "A token").parse().unwrap();
        assert_eq!(ok.name.as_str(), "Tutorial");
        assert_eq!(ok.external_id.as_str(), "");

        let errors = general("", &"x".repeat(129), "").parse().unwrap_err();
        assert_eq!(errors.get("name"), Some("Name is required"));
        assert_eq!(
            errors.get("external_id"),
            Some("External ID must be at most 128 characters")
        );
        assert_eq!(errors.get("description"), Some("Description is required"));

        let errors = general("tab\there", "", &"d".repeat(256))
            .parse()
            .unwrap_err();
        assert_eq!(
            errors.get("name"),
            Some("Name must not contain control characters")
        );
        assert_eq!(
            errors.get("description"),
            Some("Description must be at most 255 characters")
        );
        assert_eq!(errors.get("external_id"), None);
    }

    #[test]
    fn extension_choice() {
        assert_eq!(parse_extension(Some("zapier")), Ok(Extension::Zapier));
        assert_eq!(
            parse_extension(None).unwrap_err().get("extension"),
            Some("Choose an extension")
        );
        assert_eq!(
            parse_extension(Some(" ")).unwrap_err().get("extension"),
            Some("Choose an extension")
        );
        assert!(
            parse_extension(Some("teams"))
                .unwrap_err()
                .get("extension")
                .unwrap()
                .contains("unknown extension")
        );
    }

    #[test]
    fn permissions_step() {
        let input = |modules: &[&str], all| PermissionsInput {
            modules: modules.iter().map(|m| m.to_string()).collect(),
            all_modules: all,
        };
        assert_eq!(
            input(&["MD-0001", "MD-0002"], false)
                .parse(Extension::Custom)
                .unwrap()
                .iter()
                .count(),
            2
        );
        assert!(input(&[], true).parse(Extension::Zapier).unwrap().has_all());
        assert!(
            input(&["MD-0001"], true)
                .parse(Extension::Zapier)
                .unwrap()
                .has_all(),
            "All wins"
        );
        assert!(
            input(&[], false)
                .parse(Extension::Reports)
                .unwrap()
                .has_all(),
            "Reports is fixed"
        );
        assert_eq!(
            input(&[], false)
                .parse(Extension::Custom)
                .unwrap_err()
                .get("modules"),
            Some("A token must hold at least one module, or All Modules")
        );
        assert_eq!(
            input(&["MD-0001", "MD-4242"], false)
                .parse(Extension::Flowgear)
                .unwrap_err()
                .get("modules"),
            Some("Unknown module \"MD-4242\"; choose from the list")
        );
        assert!(
            input(&["MD-0001"], false)
                .parse(Extension::Reports)
                .unwrap()
                .has_all(),
            "a fixed form asks for nothing"
        );
    }

    #[test]
    fn permissions_round_trip_through_the_form() {
        let set = ModuleSet::parse(["MD-0002", "MD-0013"]).unwrap();
        let input = PermissionsInput::from_set(&set);
        assert!(input.is_checked("MD-0013") && !input.all_modules);
        assert_eq!(input.parse(Extension::Custom).unwrap(), set);
        assert!(PermissionsInput::from_set(&ModuleSet::all()).all_modules);
    }
}
