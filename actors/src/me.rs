//! An actor's own address as the links take it, made once: `ctx.address().recipient()`
//! allocates twice (actix clones the address's sender and boxes it), and the actors hand
//! their address to a link with every segment they send.

use std::rc::Rc;

use actix::prelude::*;
use aptsim_simulator::link::Wire;

/// The actor's own `Recipient<Wire>`, made on first use.
#[derive(Default)]
pub struct Me(Option<Rc<Recipient<Wire>>>);

impl Me {
    /// The actor's own recipient (shared: cloning it costs a counter).
    pub fn get<A>(&mut self, ctx: &Context<A>) -> Rc<Recipient<Wire>>
    where
        A: Actor<Context = Context<A>> + Handler<Wire>,
    {
        Rc::clone(
            self.0
                .get_or_insert_with(|| Rc::new(ctx.address().recipient())),
        )
    }
}
