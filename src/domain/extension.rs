//! The extensions a token is made for, and what each lets its tokens hold: Reports tokens always
//! hold All, the others at least one module of their choice.

use super::module::{ModuleError, ModuleSet};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    Custom,
    Flowgear,
    Zapier,
    Reports,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown extension {0:?}; choose one of custom, flowgear, zapier, reports")]
pub struct UnknownExtension(pub String);

impl Extension {
    /// In the order the wizard lists them.
    pub const ALL: [Extension; 4] = [Self::Flowgear, Self::Reports, Self::Zapier, Self::Custom];

    pub fn id(self) -> &'static str {
        match self {
            Self::Custom => "EXT-000",
            Self::Flowgear => "EXT-001",
            Self::Zapier => "EXT-002",
            Self::Reports => "EXT-003",
        }
    }

    /// The name used by the API and in forms.
    pub fn name(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::Flowgear => "flowgear",
            Self::Zapier => "zapier",
            Self::Reports => "reports",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Custom => "Custom Integration",
            Self::Flowgear => "Flowgear iPaaS",
            Self::Zapier => "Zapier Integration",
            Self::Reports => "Custom Reports",
        }
    }

    /// The one-line explanation the wizard shows beside the choice.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Custom => "Choose this option for your custom integration.",
            Self::Flowgear => "A token for the Flowgear iPaaS platform.",
            Self::Zapier => "A token for the Zapier workflow automation platform.",
            Self::Reports => "A token for creating Custom Reports; it reaches all modules.",
        }
    }

    /// True when the permissions are fixed rather than chosen.
    pub fn has_fixed_permissions(self) -> bool {
        self == Self::Reports
    }

    /// What is asked for when nothing is: All for a fixed extension, nothing otherwise (which
    /// `modules_for` refuses).
    pub fn default_modules(self) -> ModuleSet {
        if self.has_fixed_permissions() {
            ModuleSet::all()
        } else {
            ModuleSet::default()
        }
    }

    /// The modules a token of this extension holds when `requested` are asked for: the one rule
    /// that creating a token and changing its permissions (UI, API, CLI) all go through.
    pub fn modules_for(self, requested: ModuleSet) -> Result<ModuleSet, ModuleError> {
        if self.has_fixed_permissions() {
            return if requested == ModuleSet::all() {
                Ok(requested)
            } else {
                Err(ModuleError::Fixed(self.title()))
            };
        }
        if requested.is_empty() {
            return Err(ModuleError::Empty);
        }
        Ok(requested)
    }

    /// The extension with exactly this id (`EXT-002`), as the API's `extension.id` names it.
    pub fn by_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.id() == id)
    }

    /// The extension with exactly this name (`zapier`), as the API's `extension.name` names it.
    pub fn by_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Accepts the API name (`zapier`, any case) or the id (`EXT-002`).
    pub fn parse(value: &str) -> Result<Self, UnknownExtension> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(value) || e.id() == value)
            .ok_or_else(|| UnknownExtension(value.chars().take(64).collect()))
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_names_an_extension_exactly() {
        assert_eq!(Extension::by_id("EXT-002"), Some(Extension::Zapier));
        assert_eq!(Extension::by_name("zapier"), Some(Extension::Zapier));
        for loose in ["zapier", "ext-002", " EXT-002", "Zapier"] {
            assert_eq!(Extension::by_id(loose), None, "{loose:?}");
        }
        for loose in ["EXT-002", "Zapier", " zapier"] {
            assert_eq!(Extension::by_name(loose), None, "{loose:?}");
        }
    }

    #[test]
    fn parse_by_name_or_id() {
        let cases = [
            ("custom", Some(Extension::Custom)),
            ("Zapier", Some(Extension::Zapier)),
            (" flowgear ", Some(Extension::Flowgear)),
            ("EXT-003", Some(Extension::Reports)),
            ("EXT-000", Some(Extension::Custom)),
            ("ext-000", None),
            ("EXT-004", None),
            ("", None),
            ("<script>", None),
        ];
        for (value, expected) in cases {
            assert_eq!(Extension::parse(value).ok(), expected, "{value:?}");
        }
    }

    #[test]
    fn what_a_token_of_each_extension_may_hold() {
        let some = ModuleSet::parse(["MD-0002"]).unwrap();
        let cases = [
            (Extension::Custom, some.clone(), Ok(some.clone())),
            (Extension::Zapier, ModuleSet::all(), Ok(ModuleSet::all())),
            (
                Extension::Flowgear,
                ModuleSet::default(),
                Err(ModuleError::Empty),
            ),
            (Extension::Reports, ModuleSet::all(), Ok(ModuleSet::all())),
            (
                Extension::Reports,
                some.clone(),
                Err(ModuleError::Fixed("Custom Reports")),
            ),
            (
                Extension::Reports,
                ModuleSet::default(),
                Err(ModuleError::Fixed("Custom Reports")),
            ),
            (
                Extension::Reports,
                ModuleSet::all().with(&some),
                Err(ModuleError::Fixed("Custom Reports")),
            ),
        ];
        for (extension, requested, expected) in cases {
            assert_eq!(
                extension.modules_for(requested.clone()),
                expected,
                "{extension} {requested:?}"
            );
        }
        for extension in Extension::ALL {
            let default = extension.modules_for(extension.default_modules());
            assert_eq!(default.is_ok(), extension.has_fixed_permissions());
        }
    }

    #[test]
    fn only_reports_is_fixed() {
        let fixed: Vec<_> = Extension::ALL
            .into_iter()
            .filter(|e| e.has_fixed_permissions())
            .collect();
        assert_eq!(fixed, vec![Extension::Reports]);
    }
}
