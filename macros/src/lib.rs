//! Derive macros of the [`eventkit`](https://docs.rs/eventkit) crate, re-exported there:
//! use them as `eventkit::ErrorType`.
//!
//! `#[derive(ErrorType)]` implements `eventkit::ErrorType` for an error enum or struct: each
//! variant's type is its name, or what `#[error_type("Name")]` says on the variant (or, as a
//! default for every variant, on the enum); `#[error_type(transparent)]` on a one-field
//! variant takes the type of the error it wraps. The message is the error's `Display`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Fields, LitStr};

/// `eventkit::ErrorType` from one declaration per variant.
///
/// ```ignore
/// #[derive(Debug, thiserror::Error, eventkit::ErrorType)]
/// pub enum LedgerError {
///     #[error("account `{0}` is not open")]
///     AccountNotOpen(String),                 // error type "AccountNotOpen"
///     #[error("ledger store failed: {0}")]
///     #[error_type("TransientError")]
///     Store(String),                          // error type "TransientError"
///     #[error(transparent)]
///     #[error_type(transparent)]
///     Route(eventkit::router::RouteError),    // the wrapped error's type
/// }
/// ```
#[proc_macro_derive(ErrorType, attributes(error_type))]
pub fn derive_error_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// What `#[error_type(..)]` says.
enum Named {
    Literal(LitStr),
    Transparent,
}

/// The one `#[error_type(..)]` among `attrs`, if any.
fn named(attrs: &[Attribute]) -> syn::Result<Option<Named>> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("error_type")) {
        if found.is_some() {
            return Err(syn::Error::new_spanned(attr, "`error_type` given twice"));
        }
        let named = match attr.parse_args::<LitStr>() {
            Ok(name) => Named::Literal(checked(name)?),
            Err(_) => {
                let word: syn::Ident = attr.parse_args().map_err(|_| {
                    syn::Error::new_spanned(
                        attr,
                        "expected #[error_type(\"Name\")] or #[error_type(transparent)]",
                    )
                })?;
                if word != "transparent" {
                    return Err(syn::Error::new_spanned(
                        word,
                        "expected #[error_type(\"Name\")] or #[error_type(transparent)]",
                    ));
                }
                Named::Transparent
            }
        };
        found = Some(named);
    }
    Ok(found)
}

/// A name Step Functions can match: not empty, no whitespace, not its reserved `States.`.
fn checked(name: LitStr) -> syn::Result<LitStr> {
    let value = name.value();
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        return Err(syn::Error::new_spanned(
            name,
            "an error type is one word, as a Step Functions Retry/Catch names it",
        ));
    }
    if value.starts_with("States.") {
        return Err(syn::Error::new_spanned(
            name,
            "`States.` error names are Step Functions' own; choose another",
        ));
    }
    Ok(name)
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let default = match named(&input.attrs)? {
        Some(Named::Transparent) => {
            return Err(syn::Error::new_spanned(
                name,
                "#[error_type(transparent)] goes on a one-field variant",
            ))
        }
        Some(Named::Literal(name)) => Some(name),
        None => None,
    };
    let own = |ident: &syn::Ident| {
        default
            .clone()
            .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()))
    };
    let body = match &input.data {
        Data::Struct(_) => {
            let literal = own(name);
            quote!(#literal)
        }
        Data::Enum(data) => {
            let mut arms = Vec::new();
            for variant in &data.variants {
                let ident = &variant.ident;
                let pattern = match &variant.fields {
                    Fields::Named(_) => quote!(Self::#ident { .. }),
                    Fields::Unnamed(_) => quote!(Self::#ident(..)),
                    Fields::Unit => quote!(Self::#ident),
                };
                let arm = match named(&variant.attrs)? {
                    Some(Named::Literal(literal)) => quote!(#pattern => #literal),
                    Some(Named::Transparent) => transparent(variant)?,
                    None => {
                        let literal = own(ident);
                        quote!(#pattern => #literal)
                    }
                };
                arms.push(arm);
            }
            if arms.is_empty() {
                quote!(match *self {})
            } else {
                quote!(match self { #(#arms,)* })
            }
        }
        Data::Union(data) => {
            return Err(syn::Error::new_spanned(
                data.union_token,
                "ErrorType is derived for an enum or a struct, not a union",
            ))
        }
    };
    Ok(quote! {
        impl #impl_generics ::eventkit::ErrorType for #name #type_generics #where_clause {
            fn error_type(&self) -> &str {
                #body
            }
            fn error_message(&self) -> ::std::string::String {
                ::std::string::ToString::to_string(self)
            }
        }
    })
}

/// The arm of a `#[error_type(transparent)]` variant: its one field's own type.
fn transparent(variant: &syn::Variant) -> syn::Result<Tokens> {
    let ident = &variant.ident;
    if variant.fields.len() != 1 {
        return Err(syn::Error::new_spanned(
            variant,
            "#[error_type(transparent)] goes on a variant with exactly one field",
        ));
    }
    let field = variant.fields.iter().next().expect("one field");
    let span = field.ty.span();
    let pattern = match (&variant.fields, &field.ident) {
        (Fields::Named(_), Some(name)) => quote!(Self::#ident { #name: inner }),
        _ => quote!(Self::#ident(inner)),
    };
    Ok(quote_spanned!(span=> #pattern => ::eventkit::ErrorType::error_type(inner)))
}
