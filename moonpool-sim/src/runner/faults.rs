//! The fault families a seed can decide, by name, and the check of a
//! [`FaultSelection`] against them and against the registered buggify
//! sites.
//!
//! The registry is assembled here, in the runner, because its families come
//! from two layers below: the models' (network, storage, buggify) and the
//! nemeses' (attrition). A test (`every_family_a_seed_decides_is_known`)
//! keeps it complete.

use moonpool_core::buggify::buggify_sites;

use super::sweep::PlanError;
use crate::kernel::faults::{FaultSelection, site_name};

/// Every fault family a chaos seed can decide, by name: the unit of swarm
/// testing, of `--faults`/`--no-faults` and of `--minimize`.
pub fn fault_families() -> Vec<&'static str> {
    let mut families: Vec<&'static str> = crate::model::network::FAULT_FAMILIES
        .iter()
        .map(|(family, _)| *family)
        .collect();
    families.extend(crate::model::storage::config::FAULT_FAMILIES);
    families.extend(crate::model::clock::FAULT_FAMILIES.iter().map(|(f, _)| *f));
    families.push(crate::model::buggify::FAMILY);
    families.push(crate::model::buggify::BUGGIFIED_DELAY);
    families.push(crate::nemesis::attrition::FAMILY);
    families
}

/// Refuses a selection that names an unknown family or buggify site.
pub(crate) fn check(selection: &FaultSelection) -> Result<(), PlanError> {
    let known = fault_families();
    let named = selection.only.iter().flatten().chain(&selection.off);
    if let Some(name) = named.into_iter().find(|n| !known.contains(&n.as_str())) {
        return Err(PlanError::UnknownFaultFamily {
            name: name.clone(),
            known,
        });
    }
    if let Some(sites) = &selection.buggify_sites {
        let registered: Vec<String> = buggify_sites().iter().map(site_name).collect();
        if let Some(name) = sites.iter().find(|s| !registered.contains(s)) {
            return Err(PlanError::UnknownBuggifySite { name: name.clone() });
        }
    }
    Ok(())
}
