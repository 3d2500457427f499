//! The [`service!`](macro@crate::service) macro: a service with several
//! request types in a few lines (documented on the macro itself).

/// Declares a service with several request types: a typed client, a
/// server with dispatch, and a serializable interface.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Get { pub key: String }
/// #[derive(Serialize, Deserialize)]
/// pub struct Put { pub key: String, pub value: u64 }
///
/// moonpool_transport::service! {
///     /// A tiny key-value store.
///     pub mod kv {
///         get: Get => Option<u64>,
///         put: Put => (),
///     }
/// }
/// // Generated: kv::Server (one RequestStream per method, `next()` yields a
/// // kv::Request enum), kv::Client (one RequestSender per method),
/// // kv::Interface (the endpoints, serializable), and `impl Request for Get`.
///
/// // A server loop dispatching on the method:
/// async fn serve(server: kv::Server, store: &mut std::collections::BTreeMap<String, u64>) {
///     while let Some(request) = server.next().await {
///         match request {
///             kv::Request::get(r) => r.reply.send(store.get(&r.request.key).copied()),
///             kv::Request::put(r) => {
///                 store.insert(r.request.key, r.request.value);
///                 r.reply.send(());
///             }
///         }
///     }
/// }
/// # fn main() {}
/// ```
///
/// The request types must be distinct (each implements
/// [`Request`](crate::Request) once). The generated module imports its
/// parent's items (`use super::*`), so the types can be named as in the
/// parent.
///
/// Shape:
///
/// ```text
/// service! {
///     /// docs
///     pub mod NAME {
///         METHOD: RequestType => ReplyType,
///         ...
///     }
/// }
/// ```
///
/// generates in module `NAME`:
/// - `Interface`: `Copy + Serialize` struct of one [`Endpoint`](crate::Endpoint)
///   per method (send it to clients, or build it with
///   `Interface::well_known(addr, first_index)`);
/// - `Server<C = PostcardCodec>`: one [`RequestStream`](crate::RequestStream)
///   per method (`Server::new(&transport)?` on random tokens, or
///   `Server::well_known(&transport, first_index)?`), `interface()`,
///   `next().await` → `Option<Request<C>>`, polling the methods round-robin
///   (any number of tasks may wait at once), and `serve(concurrency_max,
///   handler)`; a live server keeps its transport alive;
/// - `Request<C>`: an enum with one variant per method, holding the
///   [`Incoming`](crate::Incoming) request;
/// - `Client<P, C = PostcardCodec>`: one [`RequestSender`](crate::RequestSender)
///   per method (`Client::new(&transport, interface)`).
#[macro_export]
macro_rules! service {
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $( $(#[$mmeta:meta])* $method:ident : $req:ty => $rep:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[allow(non_camel_case_types, dead_code, unused_imports)]
        $vis mod $name {
            use super::*;
            use $crate::__private::{Codec, PostcardCodec, Providers};

            $( impl $crate::Request for $req { type Reply = $rep; } )+

            /// The service's endpoints, one per method.
            #[derive(Clone, Copy, Debug, PartialEq, Eq,
                $crate::__private::serde::Serialize, $crate::__private::serde::Deserialize)]
            #[serde(crate = "moonpool_transport::__private::serde")]
            pub struct Interface {
                $( $(#[$mmeta])* #[doc = concat!("The endpoint of `", stringify!($method), "`.")] pub $method: $crate::Endpoint, )+
            }

            impl Interface {
                /// The interface of a server registered with
                /// `Server::well_known(transport, first_index)` at `addr`.
                pub fn well_known(addr: ::std::net::SocketAddr, first_index: u32) -> Interface {
                    let mut _i = first_index;
                    $( let $method = $crate::Endpoint::well_known(addr, _i); _i += 1; )+
                    Interface { $( $method, )+ }
                }
            }

            /// One request taken from the server, by method.
            pub enum Request<C: Codec = PostcardCodec> {
                $( $(#[$mmeta])* #[doc = concat!("A `", stringify!($method), "` request.")] $method($crate::Incoming<$req, C>), )+
            }

            /// The server side: one request stream per method.
            pub struct Server<C: Codec = PostcardCodec> {
                $( $(#[$mmeta])* #[doc = concat!("The `", stringify!($method), "` requests.")] pub $method: $crate::RequestStream<$req, C>, )+
                next_first: ::std::cell::Cell<usize>,
            }

            const METHODS: usize = [$( stringify!($method) ),+].len();

            impl<C: Codec> Server<C> {
                /// Registers every method on a fresh random token.
                pub fn new<P: Providers>(
                    transport: &$crate::Transport<P, C>,
                ) -> ::std::result::Result<Server<C>, $crate::TransportError> {
                    Ok(Server {
                        $( $method: transport.request_stream::<$req>()?, )+
                        next_first: ::std::cell::Cell::new(0),
                    })
                }

                /// Registers the methods on consecutive well-known tokens
                /// from `first_index`.
                pub fn well_known<P: Providers>(
                    transport: &$crate::Transport<P, C>,
                    first_index: u32,
                ) -> ::std::result::Result<Server<C>, $crate::TransportError> {
                    let mut _i = first_index;
                    $( let $method = transport.well_known_stream::<$req>(_i)?; _i += 1; )+
                    Ok(Server { $( $method, )+ next_first: ::std::cell::Cell::new(0) })
                }

                /// The endpoints to give to clients.
                pub fn interface(&self) -> Interface {
                    Interface { $( $method: self.$method.endpoint(), )+ }
                }

                /// The next request of any method (round-robin across
                /// methods); `None` once the transport shut down. Several
                /// tasks may wait at once: each request wakes one of them.
                pub async fn next(&self) -> ::std::option::Option<Request<C>> {
                    let mut slots: [$crate::__private::WaitSlot; METHODS] =
                        ::std::array::from_fn(|_| ::std::default::Default::default());
                    ::std::future::poll_fn(|cx| self.poll_methods(cx, Some(&mut slots))).await
                }

                /// Polls for the next request of any method, without a
                /// place in line: the task is woken on every request (see
                /// `RequestStream::poll_next`; prefer `next`).
                pub fn poll_next(
                    &self,
                    cx: &mut ::std::task::Context<'_>,
                ) -> ::std::task::Poll<::std::option::Option<Request<C>>> {
                    self.poll_methods(cx, None)
                }

                /// Serves requests until the transport shuts down:
                /// `handler` runs for each, at most `concurrency_max` at
                /// once.
                pub async fn serve<H, Fut>(&self, concurrency_max: usize, handler: H)
                where
                    H: FnMut(Request<C>) -> Fut,
                    Fut: ::std::future::Future<Output = ()>,
                {
                    $crate::__private::serve(|| self.next(), concurrency_max, handler).await
                }

                // A one-method service makes `% METHODS` a `% 1`.
                #[allow(clippy::modulo_one)]
                fn poll_methods(
                    &self,
                    cx: &mut ::std::task::Context<'_>,
                    mut slots: ::std::option::Option<&mut [$crate::__private::WaitSlot; METHODS]>,
                ) -> ::std::task::Poll<::std::option::Option<Request<C>>> {
                    use ::std::task::Poll;
                    let first = self.next_first.get();
                    self.next_first.set((first + 1) % METHODS);
                    let mut ended = 0usize;
                    for k in 0..METHODS {
                        let which = (first + k) % METHODS;
                        let mut _idx = 0usize;
                        $(
                            if _idx == which {
                                let polled = match slots.as_deref_mut() {
                                    Some(s) => self.$method.poll_next_in(cx, &mut s[_idx]),
                                    None => self.$method.poll_next(cx),
                                };
                                match polled {
                                    Poll::Ready(Some(r)) => return Poll::Ready(Some(Request::$method(r))),
                                    Poll::Ready(None) => ended += 1,
                                    Poll::Pending => {}
                                }
                            }
                            _idx += 1;
                        )+
                    }
                    if ended == METHODS { Poll::Ready(None) } else { Poll::Pending }
                }
            }

            /// The client side: one request sender per method.
            pub struct Client<P: Providers, C: Codec = PostcardCodec> {
                $( $(#[$mmeta])* #[doc = concat!("Calls `", stringify!($method), "`.")] pub $method: $crate::RequestSender<$req, P, C>, )+
            }

            impl<P: Providers, C: Codec> Clone for Client<P, C> {
                fn clone(&self) -> Self {
                    Client { $( $method: self.$method.clone(), )+ }
                }
            }

            impl<P: Providers, C: Codec> Client<P, C> {
                /// A client of the server at `interface`, through `transport`.
                pub fn new(transport: &$crate::Transport<P, C>, interface: Interface) -> Client<P, C> {
                    Client { $( $method: transport.sender::<$req>(interface.$method), )+ }
                }
            }
        }
    };
}
