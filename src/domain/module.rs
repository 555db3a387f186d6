//! Platform modules a token may be granted. "All" is a grant of its own: it reaches every module,
//! including ones added later, so it is never expanded into the individual ones.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Module {
    pub id: &'static str,
    pub name: &'static str,
}

pub const ALL_MODULES_ID: &str = "MD-0000";

/// Every module, "All" first, the rest as the platform numbers them.
pub const MODULES: [Module; 17] = [
    Module {
        id: "MD-0000",
        name: "All",
    },
    Module {
        id: "MD-0001",
        name: "Account",
    },
    Module {
        id: "MD-0002",
        name: "Agreements",
    },
    Module {
        id: "MD-0003",
        name: "Contracts",
    },
    Module {
        id: "MD-0004",
        name: "Customers",
    },
    Module {
        id: "MD-0005",
        name: "Listings",
    },
    Module {
        id: "MD-0006",
        name: "Marketplaces",
    },
    Module {
        id: "MD-0007",
        name: "Integrations",
    },
    Module {
        id: "MD-0008",
        name: "Partners",
    },
    Module {
        id: "MD-0009",
        name: "Pricing",
    },
    Module {
        id: "MD-0010",
        name: "Products",
    },
    Module {
        id: "MD-0011",
        name: "Reports",
    },
    Module {
        id: "MD-0012",
        name: "Subscriptions",
    },
    Module {
        id: "MD-0013",
        name: "Usage",
    },
    Module {
        id: "MD-0023",
        name: "Helpdesk",
    },
    Module {
        id: "MD-0024",
        name: "DevOps",
    },
    Module {
        id: "MD-0032",
        name: "Leads",
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    #[error("unknown module {0:?}")]
    Unknown(String),
    #[error("choose at least one module")]
    Empty,
}

impl Module {
    pub fn find(id: &str) -> Result<Module, ModuleError> {
        MODULES
            .iter()
            .copied()
            .find(|m| m.id == id)
            .ok_or_else(|| ModuleError::Unknown(id.chars().take(64).collect()))
    }

    pub fn is_all(self) -> bool {
        self.id == ALL_MODULES_ID
    }
}

/// A non-empty set of granted modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSet(BTreeSet<Module>);

impl ModuleSet {
    pub fn all() -> Self {
        Self(BTreeSet::from([MODULES[0]]))
    }

    /// From module ids; unknown ids and an empty choice are refused.
    pub fn parse<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<Self, ModuleError> {
        let set = ids
            .into_iter()
            .map(|id| Module::find(id.trim()))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(ModuleError::Empty);
        }
        Ok(Self(set))
    }

    /// A set that may be empty: what a token holds after the API removed its last module.
    pub fn of(modules: impl IntoIterator<Item = Module>) -> Self {
        Self(modules.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The CLI form: `all` or a comma-separated list of ids.
    pub fn parse_list(value: &str) -> Result<Self, ModuleError> {
        if value.trim().eq_ignore_ascii_case("all") {
            return Ok(Self::all());
        }
        Self::parse(value.split(',').filter(|s| !s.trim().is_empty()))
    }

    pub fn has_all(&self) -> bool {
        self.0.iter().any(|m| m.is_all())
    }

    /// Whether a token holding this set may use `module`.
    pub fn grants(&self, module: Module) -> bool {
        self.has_all() || self.0.contains(&module)
    }

    /// Whether `module` itself is in the set (unlike `grants`, "All" does not imply it).
    pub fn contains(&self, module: Module) -> bool {
        self.0.contains(&module)
    }

    pub fn iter(&self) -> impl Iterator<Item = Module> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_ids_are_unique_and_all_comes_first() {
        let ids: BTreeSet<_> = MODULES.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), MODULES.len());
        assert!(MODULES[0].is_all());
    }

    #[test]
    fn parse_sets() {
        let agreements = Module::find("MD-0002").unwrap();
        let set = ModuleSet::parse(["MD-0001", "MD-0002", "MD-0002"]).unwrap();
        assert_eq!(set.iter().count(), 2);
        assert!(set.grants(agreements));
        assert!(!set.grants(Module::find("MD-0032").unwrap()));
        assert!(!set.has_all());

        assert_eq!(ModuleSet::parse([]), Err(ModuleError::Empty));
        assert_eq!(
            ModuleSet::parse(["MD-0001", "MD-9999"]),
            Err(ModuleError::Unknown("MD-9999".into()))
        );
        assert!(ModuleSet::parse(["md-0001"]).is_err());
    }

    #[test]
    fn all_grants_everything() {
        let all = ModuleSet::parse_list("all").unwrap();
        assert!(MODULES.iter().all(|m| all.grants(*m)));
        assert_eq!(
            ModuleSet::parse_list("MD-0001,MD-0013")
                .unwrap()
                .iter()
                .count(),
            2
        );
        assert_eq!(ModuleSet::parse_list(" , "), Err(ModuleError::Empty));
    }
}
