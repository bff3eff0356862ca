//! The pages' HTML: one layout (skip link, language switch, search form), text escaped
//! everywhere it is inserted, and the words of the interface in Romanian and Russian.

use std::fmt::Write as _;

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ro,
    Ru,
}

impl Lang {
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "ro" => Some(Self::Ro),
            "ru" => Some(Self::Ru),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Ro => "ro",
            Self::Ru => "ru",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Self {
        match self {
            Self::Ro => Self::Ru,
            Self::Ru => Self::Ro,
        }
    }

    /// One of two texts.
    pub fn pick<'a>(self, ro: &'a str, ru: &'a str) -> &'a str {
        match self {
            Self::Ro => ro,
            Self::Ru => ru,
        }
    }

    pub fn text(self, text: &esocial_benefits::catalog::Text) -> &str {
        self.pick(&text.ro, &text.ru)
    }
}

/// `text` with the five characters HTML gives a meaning escaped (the same five as XML).
pub use esocial_wire::mconnect::xml::escape;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; color: #1a1a1a; background: #fff; margin: 0;
       line-height: 1.5; font-size: 1.05rem; }
header, main, footer { max-width: 52rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 2px solid #0b4f9c; padding-bottom: .5rem; }
a { color: #0b4f9c; }
a:focus, button:focus, input:focus { outline: 3px solid #b35c00; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
nav ul { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #767676; padding: .3rem .5rem; text-align: left; vertical-align: top; }
.notice { border-left: 6px solid #b35c00; background: #fff4e5; padding: .5rem 1rem; }
.error { border-left: 6px solid #a4001d; background: #fde8ec; padding: .5rem 1rem; }
.outcome-eligible { color: #0a6b2d; font-weight: bold; }
.outcome-not_eligible { color: #6b0a1a; font-weight: bold; }
.outcome-cannot_tell { color: #7a4a00; font-weight: bold; }
fieldset { margin: 1rem 0; border: 1px solid #767676; }
label { display: inline-block; min-width: 12rem; }
.blank { display: inline-block; min-width: 16rem; min-height: 1.4rem; }
table.fill td { height: 1.8rem; }
button { font-size: 1rem; padding: .4rem 1rem; background: #0b4f9c; color: #fff; border: 0; }
@media print { header nav, .skip, form, .noprint { display: none; } a { color: #000; }
  body { font-size: 11pt; } }
";

/// A whole page: `title`, and `body` already in HTML. `switch` is this page's path in the
/// other language.
pub fn page(lang: Lang, title: &str, switch: &str, body: &str) -> String {
    let home = lang.pick("Prestații sociale", "Социальные выплаты");
    let mut html = String::with_capacity(body.len() + 4096);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · eSocial</title><style>{STYLE}</style></head><body>\
         <a class=\"skip\" href=\"#content\">{skip}</a>\
         <header><p><a href=\"/{code}/\">{home}</a> · eSocial</p><nav aria-label=\"{nav}\"><ul>\
         <li><a href=\"/{code}/\">{catalog}</a></li>\
         <li><a href=\"/{code}/estimare\">{estimator}</a></li>\
         <li><a href=\"/{code}/statistici\">{statistics}</a></li>\
         <li><a href=\"{switch}\" lang=\"{other}\" hreflang=\"{other}\">{other_name}</a></li>\
         </ul></nav>\
         <form role=\"search\" action=\"/{code}/cautare\" method=\"get\">\
         <label for=\"q\">{search}</label> <input id=\"q\" name=\"q\" type=\"search\"> \
         <button type=\"submit\">{search_button}</button></form></header>\
         <main id=\"content\">{body}</main>\
         <footer><p>{footer}</p></footer></body></html>",
        code = lang.code(),
        title = escape(title),
        skip = lang.pick("Salt la conținut", "Перейти к содержанию"),
        nav = lang.pick("Navigare", "Навигация"),
        catalog = lang.pick("Catalogul prestațiilor", "Каталог выплат"),
        estimator = lang.pick("Calculator personal", "Личный калькулятор"),
        statistics = lang.pick("Statistici de utilizare", "Статистика использования"),
        other = lang.other().code(),
        other_name = lang.pick("Русский", "Română"),
        search = lang.pick("Caută o prestație", "Найти выплату"),
        search_button = lang.pick("Caută", "Найти"),
        footer = lang.pick(
            "Informațiile și estimările de pe aceste pagini nu sunt decizii și nu angajează \
             nicio autoritate.",
            "Сведения и оценки на этих страницах не являются решениями и ни к чему не обязывают \
             органы власти."
        ),
    );
    html
}
