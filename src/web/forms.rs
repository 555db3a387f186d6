//! Reading submitted forms whose fields may repeat (the module checkboxes).

use super::tokens::SelectOption;
use crate::domain::lifecycle::{EXPIRY_CHOICES, ExpiryInput};
use crate::domain::module::MODULES;
use crate::domain::token_form::{GeneralInput, PermissionsInput};

/// A submitted form, every field as sent, in order.
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn general(&self) -> GeneralInput {
        GeneralInput {
            name: self.text("name"),
            external_id: self.text("external_id"),
            description: self.text("description"),
        }
    }

    pub fn expiry(&self) -> ExpiryInput {
        ExpiryInput {
            expires: self.text("expires"),
            expires_on: self.text("expires_on"),
        }
    }

    pub fn permissions(&self) -> PermissionsInput {
        PermissionsInput {
            modules: self.all("modules"),
            all_modules: self
                .get("all_modules")
                .is_some_and(|v| v == "on" || v == "true"),
        }
    }
}

/// A module checkbox as the permission forms show it.
pub struct ModuleChoice {
    pub id: &'static str,
    pub name: &'static str,
    pub checked: bool,
}

/// Every module but "All" (which has its own box), checked as in `input`.
pub fn module_choices(input: &PermissionsInput) -> Vec<ModuleChoice> {
    MODULES
        .iter()
        .filter(|m| !m.is_all())
        .map(|m| ModuleChoice {
            id: m.id,
            name: m.name,
            checked: input.all_modules || input.is_checked(m.id),
        })
        .collect()
}

/// The expiry choices, the one in `input` selected.
pub fn expiry_choices(input: &ExpiryInput) -> Vec<SelectOption> {
    EXPIRY_CHOICES
        .iter()
        .map(|(value, label)| SelectOption::new(*value, *label, input.expires == *value))
        .collect()
}
