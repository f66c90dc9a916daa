//! `#[corio::main]` and `#[corio::test]`: run an `async fn` on a corio runtime.
//!
//! Use them through the `corio` crate (feature `macros`, on by default):
//!
//! ```
//! #[corio::main]
//! async fn main() {
//!     let t = corio::create_task(async { 6 * 7 });
//!     assert_eq!(t.await.unwrap(), 42);
//! }
//! ```
//!
//! The attribute turns the `async fn` into a plain fn that builds a
//! `corio::Runtime`, runs the body with `block_on` and shuts the runtime down
//! (as `corio::run` does). A return type is kept, so `main` and tests may
//! return a `Result` and use `?`.
//!
//! Options, comma separated, all optional:
//!
//! * `worker_threads = N` (N ≥ 1): worker threads of the runtime (default:
//!   `corio::Builder`'s, one per CPU);
//! * `flavor = "multi_thread"` (the default) or `flavor = "current_thread"`
//!   (`corio::Builder::current_thread`: the body and every spawned task run
//!   on the calling thread, inside `Runtime::block_on`);
//! * `crate = "path"`: where the corio crate is, when it was renamed in
//!   `Cargo.toml` (default `::corio`).
//!
//! Misuse is a compile error that says what to change: the fn is not `async`,
//! takes arguments, has generic parameters, an option is unknown or repeated,
//! `worker_threads` is 0 or given with `flavor = "current_thread"`, or a test
//! also carries `#[test]`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

/// Runs `async fn main` on a new corio runtime.
///
/// ```
/// #[corio::main(worker_threads = 2)]
/// async fn main() -> std::io::Result<()> {
///     corio::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
///
/// See the [crate docs](crate) for the options.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on its own new corio runtime (one per test).
///
/// ```
/// #[corio::test]
/// async fn sleeps() {
///     corio::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// # fn main() {}
/// ```
///
/// Takes the same options as [`main`](macro@main). Do not add `#[test]`: the
/// attribute adds it.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

/// Runs an `async fn` test as a `corio::sim` deterministic simulation under
/// many seeds (feature `sim` of corio): `corio::sim::check` with the
/// environment's `CORIO_SIM_SEEDS` / `CORIO_SIM_SEED`. On failure the test
/// panics with the seed and the command that replays it.
///
/// ```ignore
/// #[corio::sim_test(worker_threads = 2)]
/// async fn two_tasks_meet() {
///     let t = corio::create_task(async { 1 });
///     assert_eq!(t.await.unwrap(), 1);
/// }
/// ```
///
/// Options: `worker_threads = N` (simulated workers, default 4) and
/// `crate = "path"`. The fn returns `()`; do not add `#[test]`.
#[proc_macro_attribute]
pub fn sim_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::SimTest, args.into(), item.into()).into()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
    SimTest,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "#[corio::main]",
            Kind::Test => "#[corio::test]",
            Kind::SimTest => "#[corio::sim_test]",
        }
    }
}

/// The parsed options.
struct Config {
    worker_threads: Option<(usize, Span)>,
    current_thread: Option<Span>,
    krate: Option<syn::Path>,
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    // Keep an fn in the output next to the error: fewer follow-up errors
    // (e.g. "main function not found") hiding the one that matters.
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_item(e, item),
    };
    let res = parse_config(kind, args).and_then(|cfg| {
        check_signature(kind, &func)?;
        Ok(generate(kind, cfg, func.clone()))
    });
    match res {
        Ok(out) => out,
        Err(e) => {
            // A stand-in the compiler accepts (not async, no await), so that
            // the one error above is all the user sees.
            let mut func = func;
            func.sig.asyncness = None;
            func.sig.inputs.clear();
            func.sig.generics = syn::Generics::default();
            *func.block = syn::parse_quote!({ ::core::unimplemented!() });
            with_item(e, quote!(#func))
        }
    }
}

fn with_item(e: syn::Error, item: TokenStream2) -> TokenStream2 {
    let err = e.to_compile_error();
    quote!(#err #item)
}

fn parse_config(kind: Kind, args: TokenStream2) -> syn::Result<Config> {
    let opts = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut cfg = Config {
        worker_threads: None,
        current_thread: None,
        krate: None,
    };
    let mut flavor_seen = false;
    for opt in opts {
        let name = opt
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let span = opt.span();
        match name.as_str() {
            "worker_threads" => {
                if cfg.worker_threads.is_some() {
                    return Err(syn::Error::new(span, "`worker_threads` is given twice"));
                }
                let n = int_value(&opt.value, "worker_threads")?;
                if n == 0 {
                    return Err(syn::Error::new(
                        opt.value.span(),
                        "`worker_threads` must be at least 1",
                    ));
                }
                cfg.worker_threads = Some((n, span));
            }
            "flavor" if kind == Kind::SimTest => {
                return Err(syn::Error::new(
                    span,
                    "#[corio::sim_test] has no `flavor`: a simulation runs on one thread and \
                     simulates `worker_threads` workers",
                ))
            }
            "flavor" => {
                if flavor_seen {
                    return Err(syn::Error::new(span, "`flavor` is given twice"));
                }
                flavor_seen = true;
                match str_value(&opt.value, "flavor")?.as_str() {
                    "multi_thread" => {}
                    "current_thread" => cfg.current_thread = Some(span),
                    other => {
                        return Err(syn::Error::new(
                            opt.value.span(),
                            format!(
                                "unknown flavor `{other}`: expected \"multi_thread\" or \"current_thread\""
                            ),
                        ))
                    }
                }
            }
            "crate" => {
                if cfg.krate.is_some() {
                    return Err(syn::Error::new(span, "`crate` is given twice"));
                }
                let path = str_value(&opt.value, "crate")?;
                cfg.krate = Some(syn::parse_str(&path).map_err(|_| {
                    syn::Error::new(
                        opt.value.span(),
                        format!("`crate = \"{path}\"` is not a path (e.g. \"::corio\")"),
                    )
                })?);
            }
            _ => {
                return Err(syn::Error::new(
                    opt.path.span(),
                    format!(
                        "unknown option `{}` of {}: expected `worker_threads = N`, \
                         `flavor = \"multi_thread\" | \"current_thread\"` or `crate = \"path\"`",
                        {
                            let path = &opt.path;
                            quote!(#path).to_string().replace(' ', "")
                        },
                        kind.attr()
                    ),
                ))
            }
        }
    }
    if let (Some((_, span)), Some(_)) = (cfg.worker_threads, cfg.current_thread) {
        return Err(syn::Error::new(
            span,
            "`worker_threads` cannot be combined with `flavor = \"current_thread\"` \
             (a current-thread runtime has exactly one thread)",
        ));
    }
    Ok(cfg)
}

fn int_value(e: &Expr, name: &str) -> syn::Result<usize> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<usize>(),
        _ => Err(syn::Error::new(
            e.span(),
            format!("`{name}` takes an integer literal, e.g. `{name} = 4`"),
        )),
    }
}

fn str_value(e: &Expr, name: &str) -> syn::Result<String> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        _ => Err(syn::Error::new(
            e.span(),
            format!("`{name}` takes a string literal, e.g. `{name} = \"...\"`"),
        )),
    }
}

fn check_signature(kind: Kind, func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    let attr = kind.attr();
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "{attr} needs an `async fn`: add `async` before `fn {}`",
                sig.ident
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            format!(
                "{attr} functions take no arguments: build these values inside the body \
                 (command-line arguments come from `std::env::args()`)"
            ),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{attr} functions cannot be generic"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            format!("{attr} functions take no arguments"),
        ));
    }
    if kind != Kind::Main {
        if let Some(a) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new(
                a.meta.span(),
                format!("a second test attribute: {attr} already adds #[test]; remove this one"),
            ));
        }
    }
    if kind == Kind::SimTest && !matches!(sig.output, syn::ReturnType::Default) {
        return Err(syn::Error::new(
            sig.output.span(),
            "#[corio::sim_test] functions return `()`: a failure is a panic (assert!, unwrap)",
        ));
    }
    Ok(())
}

fn generate(kind: Kind, cfg: Config, mut func: ItemFn) -> TokenStream2 {
    let krate = cfg
        .krate
        .map(|p| quote!(#p))
        .unwrap_or_else(|| quote!(::corio));
    let workers = match cfg.worker_threads {
        Some((n, _)) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let current_thread = cfg.current_thread.is_some();
    let output = match &func.sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => quote!(#ty),
    };
    let body = &func.block;
    let span = body.span();
    let name = func.sig.ident.to_string();
    if kind == Kind::SimTest {
        let workers = match cfg.worker_threads {
            Some((n, _)) => quote!(.workers(#n)),
            None => quote!(),
        };
        // A fresh body per seed: the closure is called once for each.
        let new_body = quote_spanned! {span=>
            {
                #krate::sim::Config::from_env()#workers.check(|| async #body)
            }
        };
        func.sig.asyncness = None;
        match syn::parse2(new_body) {
            Ok(block) => *func.block = block,
            Err(e) => return e.to_compile_error(),
        }
        return quote! {
            #[::core::prelude::v1::test]
            #func
        };
    }
    // The turbofish fixes the async block's output to the fn's return type
    // before the body is checked, so `?` in the body converts errors into it.
    let new_body = quote_spanned! {span=>
        {
            let config = #krate::__private::MainConfig {
                worker_threads: #workers,
                current_thread: #current_thread,
                name: #name,
            };
            #krate::__private::run_main::<#output, _>(config, async move #body)
        }
    };
    func.sig.asyncness = None;
    match syn::parse2(new_body) {
        Ok(block) => *func.block = block,
        Err(e) => return e.to_compile_error(),
    }
    let test_attr = match kind {
        Kind::Test | Kind::SimTest => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    quote! {
        #test_attr
        #func
    }
}
