//! Platform modules a token may be granted. "All" is a grant of its own: it reaches every module,
//! including ones added later, so it is never expanded into the individual ones.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Module {
    pub id: &'static str,
    pub name: &'static str,
}

impl Module {
    pub const ALL: Module = Module::new("MD-0000", "All");
    pub const ACCOUNT: Module = Module::new("MD-0001", "Account");
    pub const AGREEMENTS: Module = Module::new("MD-0002", "Agreements");
    pub const CONTRACTS: Module = Module::new("MD-0003", "Contracts");
    pub const CUSTOMERS: Module = Module::new("MD-0004", "Customers");
    pub const LISTINGS: Module = Module::new("MD-0005", "Listings");
    pub const MARKETPLACES: Module = Module::new("MD-0006", "Marketplaces");
    pub const INTEGRATIONS: Module = Module::new("MD-0007", "Integrations");
    pub const PARTNERS: Module = Module::new("MD-0008", "Partners");
    pub const PRICING: Module = Module::new("MD-0009", "Pricing");
    pub const PRODUCTS: Module = Module::new("MD-0010", "Products");
    pub const REPORTS: Module = Module::new("MD-0011", "Reports");
    pub const SUBSCRIPTIONS: Module = Module::new("MD-0012", "Subscriptions");
    pub const USAGE: Module = Module::new("MD-0013", "Usage");
    pub const HELPDESK: Module = Module::new("MD-0023", "Helpdesk");
    pub const DEVOPS: Module = Module::new("MD-0024", "DevOps");
    pub const LEADS: Module = Module::new("MD-0032", "Leads");

    const fn new(id: &'static str, name: &'static str) -> Self {
        Self { id, name }
    }
}

/// Every module, "All" first, the rest as the platform numbers them.
pub const MODULES: [Module; 17] = [
    Module::ALL,
    Module::ACCOUNT,
    Module::AGREEMENTS,
    Module::CONTRACTS,
    Module::CUSTOMERS,
    Module::LISTINGS,
    Module::MARKETPLACES,
    Module::INTEGRATIONS,
    Module::PARTNERS,
    Module::PRICING,
    Module::PRODUCTS,
    Module::REPORTS,
    Module::SUBSCRIPTIONS,
    Module::USAGE,
    Module::HELPDESK,
    Module::DEVOPS,
    Module::LEADS,
];

/// Why a set of modules cannot be what a token holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    #[error("unknown module {0:?}; choose from the list")]
    Unknown(String),
    #[error("a token must hold at least one module, or All Modules")]
    Empty,
    /// The extension's tokens hold a fixed set (its title is the argument).
    #[error("{0} tokens always hold All Modules")]
    Fixed(&'static str),
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
        self == Self::ALL
    }

    /// Three letters, for the narrow columns of the review (unique across the modules).
    pub fn abbreviation(self) -> String {
        self.name.chars().take(3).collect()
    }
}

/// A set of modules, as asked for or as held. Whether it may be a token's is for the token's
/// extension to say (`Extension::modules_for`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleSet(BTreeSet<Module>);

impl ModuleSet {
    /// The modules by name, as people read them: "All, Agreements".
    pub fn names(&self) -> String {
        self.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
    }

    pub fn all() -> Self {
        Self(BTreeSet::from([Module::ALL]))
    }

    /// From module ids; an unknown id is refused.
    pub fn parse<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<Self, ModuleError> {
        ids.into_iter()
            .map(|id| Module::find(id.trim()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

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
        self.0.contains(&Module::ALL)
    }

    /// Whether a token holding this set may use `module`.
    pub fn grants(&self, module: Module) -> bool {
        self.has_all() || self.0.contains(&module)
    }

    /// Whether `module` itself is in the set (unlike `grants`, "All" does not imply it).
    pub fn contains(&self, module: Module) -> bool {
        self.0.contains(&module)
    }

    /// The modules of `other` that this set does not hold itself ("All" is held only by All).
    pub fn lacking<'a>(&'a self, other: &'a ModuleSet) -> impl Iterator<Item = Module> + 'a {
        other
            .iter()
            .filter(move |m| !self.has_all() && (m.is_all() || !self.contains(*m)))
    }

    /// This set with `modules` added.
    pub fn with(&self, modules: &ModuleSet) -> Self {
        Self(self.0.union(&modules.0).copied().collect())
    }

    /// This set with `modules` taken away.
    pub fn without(&self, modules: &ModuleSet) -> Self {
        Self(self.0.difference(&modules.0).copied().collect())
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
        assert_eq!(MODULES[0], Module::ALL);
        assert!(MODULES.iter().all(|m| Module::find(m.id) == Ok(*m)));
    }

    #[test]
    fn abbreviations_tell_modules_apart() {
        let short: BTreeSet<String> = MODULES.iter().map(|m| m.abbreviation()).collect();
        assert_eq!(short.len(), MODULES.len());
    }

    #[test]
    fn parse_sets() {
        let agreements = Module::find("MD-0002").unwrap();
        assert_eq!(agreements, Module::AGREEMENTS);
        let set = ModuleSet::parse(["MD-0001", "MD-0002", "MD-0002"]).unwrap();
        assert_eq!(set.iter().count(), 2);
        assert!(set.grants(agreements));
        assert!(!set.grants(Module::LEADS));
        assert!(!set.has_all());

        assert!(ModuleSet::parse([]).unwrap().is_empty());
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
        assert!(ModuleSet::parse_list(" , ").unwrap().is_empty());
    }

    #[test]
    fn what_one_set_lacks_of_another() {
        let held = ModuleSet::parse(["MD-0001", "MD-0002"]).unwrap();
        let asked = ModuleSet::parse(["MD-0002", "MD-0003", "MD-0000"]).unwrap();
        assert_eq!(
            held.lacking(&asked).collect::<Vec<_>>(),
            [Module::ALL, Module::CONTRACTS]
        );
        assert_eq!(ModuleSet::all().lacking(&asked).count(), 0);
        assert_eq!(
            held.with(&asked).without(&held),
            ModuleSet::parse(["MD-0000", "MD-0003"]).unwrap()
        );
    }
}
