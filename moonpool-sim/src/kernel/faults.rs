//! Which faults a run may inject: the selection behind `--faults`,
//! `--no-faults` and `--buggify-sites`, and what `--minimize` narrows.
//!
//! A chaos seed decides each fault family on or off with a draw (swarm
//! testing), and each buggify site active or not the first time it is
//! evaluated. A [`FaultSelection`] overrides those decisions *after* the
//! draw: the draw is still taken, so the generator's stream (and every
//! decision before the first fault the selection removes) stays the same
//! as in the unselected run. That is what lets a minimized configuration
//! replay the same seed: with every family the seed had on listed, the
//! execution is exactly the original one.
//!
//! The kernel only applies the selection to names it is handed; which
//! names exist is the models' business (`moonpool_sim::fault_families`).

use std::collections::BTreeSet;
use std::fmt;

/// Overrides of the seed's own fault decisions. The default selects
/// nothing and changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSelection {
    /// `Some`: exactly these fault families are on in every chaos seed
    /// (those the seed drew off are switched on, the others off).
    pub only: Option<BTreeSet<String>>,
    /// These fault families are off in every seed (applied after `only`).
    pub off: BTreeSet<String>,
    /// `Some`: exactly these buggify sites are active when buggify is on
    /// (named `module::path:line`, as [`site_name`] writes them); the rest
    /// never fire.
    pub buggify_sites: Option<BTreeSet<String>>,
}

impl FaultSelection {
    /// Whether this selection changes nothing.
    pub fn is_empty(&self) -> bool {
        self.only.is_none() && self.off.is_empty() && self.buggify_sites.is_none()
    }

    /// Whether family `family`, drawn `drawn` by the seed, ends up on.
    pub fn family_on(&self, family: &str, drawn: bool) -> bool {
        let listed = match &self.only {
            Some(only) => only.contains(family),
            None => drawn,
        };
        listed && !self.off.contains(family)
    }

    /// Whether buggify site `name`, drawn `drawn` by the seed, is active.
    pub fn site_active(&self, name: &str, drawn: bool) -> bool {
        match &self.buggify_sites {
            Some(sites) => sites.contains(name),
            None => drawn,
        }
    }

    /// The runner flags that select this: `--faults A,B`, `--no-faults C`,
    /// `--buggify-sites S` (each only when set), one word per element.
    pub fn flags(&self) -> Vec<String> {
        let mut words = Vec::new();
        let mut list = |flag: &str, names: &BTreeSet<String>| {
            words.push(flag.to_string());
            words.push(join(names));
        };
        if let Some(only) = &self.only {
            list("--faults", only);
        }
        if !self.off.is_empty() {
            list("--no-faults", &self.off);
        }
        if let Some(sites) = &self.buggify_sites {
            list("--buggify-sites", sites);
        }
        words
    }

    /// The same as environment variables (`MOONPOOL_FAULTS=A,B`, ...), for
    /// replay lines of sweeps run from `cargo test`.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = Vec::new();
        if let Some(only) = &self.only {
            vars.push(("MOONPOOL_FAULTS", join(only)));
        }
        if !self.off.is_empty() {
            vars.push(("MOONPOOL_NO_FAULTS", join(&self.off)));
        }
        if let Some(sites) = &self.buggify_sites {
            vars.push(("MOONPOOL_BUGGIFY_SITES", join(sites)));
        }
        vars
    }
}

/// `a,b,c`; an empty list is written as `none`, which the parsers read back
/// as the empty list (an empty word would vanish in a shell line).
fn join(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return NONE.to_string();
    }
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// How an empty list is written on a command line.
pub(crate) const NONE: &str = "none";

/// Reads a comma-separated list as [`FaultSelection::flags`] writes it
/// (`none` is the empty list; blanks around names are ignored).
pub(crate) fn parse_list(text: &str) -> BTreeSet<String> {
    let text = text.trim();
    if text == NONE {
        return BTreeSet::new();
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The name a buggify site goes by in selections and reports:
/// `module::path:line`.
pub(crate) fn site_name(site: &moonpool_core::buggify::BuggifySite) -> String {
    format!("{}:{}", site.module_path, site.line)
}

impl fmt::Display for FaultSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("every fault the seed draws");
        }
        f.write_str(&self.flags().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_empty_selection_keeps_the_draws() {
        let s = FaultSelection::default();
        assert!(s.family_on("net.clog", true));
        assert!(!s.family_on("net.clog", false));
        assert!(s.site_active("a::b:3", true));
        assert!(!s.site_active("a::b:3", false));
    }

    #[test]
    fn only_forces_listed_families_on_and_the_rest_off_and_off_wins() {
        let s = FaultSelection {
            only: Some(set(&["net.clog", "disk.slow"])),
            off: set(&["disk.slow"]),
            buggify_sites: Some(set(&["a::b:3"])),
        };
        assert!(s.family_on("net.clog", false));
        assert!(!s.family_on("net.partition", true));
        assert!(!s.family_on("disk.slow", true));
        assert!(s.site_active("a::b:3", false));
        assert!(!s.site_active("a::b:4", true));
    }

    #[test]
    fn flags_read_back_to_the_same_lists() {
        let s = FaultSelection {
            only: Some(set(&["net.clog", "disk.slow"])),
            off: BTreeSet::new(),
            buggify_sites: Some(BTreeSet::new()),
        };
        let flags = s.flags();
        assert_eq!(
            flags,
            ["--faults", "disk.slow,net.clog", "--buggify-sites", "none"]
        );
        assert_eq!(parse_list(&flags[1]), set(&["net.clog", "disk.slow"]));
        assert_eq!(parse_list(&flags[3]), BTreeSet::new());
    }
}
