//! The provider contract suite against the simulated providers.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;

use moonpool_core::contract::Harness;
use moonpool_sim::{SimContext, SimProviders, SimulationBuilder, Workload, WorkloadResult};

struct SimHarness;

type Case<T> = Box<dyn FnOnce(SimProviders) -> std::pin::Pin<Box<dyn Future<Output = T>>>>;

/// A workload whose run phase is the contract case.
struct CaseWorkload<T> {
    case: Rc<RefCell<Option<Case<T>>>>,
    output: Rc<RefCell<Option<T>>>,
}

impl<T: 'static> Workload for CaseWorkload<T> {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let case = self.case.borrow_mut().take().ok_or("case already ran")?;
        let value = case(ctx.providers().clone()).await;
        *self.output.borrow_mut() = Some(value);
        Ok(())
    }
}

impl Harness for SimHarness {
    type P = SimProviders;

    fn run<T, Fut>(seed: u64, case: impl FnOnce(SimProviders) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static,
    {
        let boxed: Case<T> = Box::new(move |p| Box::pin(case(p)));
        let case = Rc::new(RefCell::new(Some(boxed)));
        let output = Rc::new(RefCell::new(None));
        let (c, o) = (Rc::clone(&case), Rc::clone(&output));
        let sim = SimulationBuilder::new()
            .chaos(false)
            .workload("contract", 1, move |_| CaseWorkload {
                case: Rc::clone(&c),
                output: Rc::clone(&o),
            })
            .build()
            .expect("valid simulation");
        let report = sim.run_seed(seed);
        if let Some(failure) = report.outcome.failure() {
            panic!("{failure}");
        }
        output
            .borrow_mut()
            .take()
            .expect("the case produced no output")
    }

    fn listen_addr(p: &SimProviders) -> SocketAddr {
        SocketAddr::new(p.ip(), 0)
    }
}

// ANCHOR: contract_suite
moonpool_core::provider_contract_tests!(SimHarness);
// ANCHOR_END: contract_suite
