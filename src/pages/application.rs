//! A benefit's application sheet: a printable page of what the application asks (the
//! applicant, the household members with their birth dates, incomes, studies and disability,
//! the conditions the authority checks and the obligations that come with the benefit), blank
//! or filled with the questionnaire's answers. The answers travel only in the page's address
//! and are neither kept nor printed on the server. It is not the official form: the page says
//! so, and where the application is filed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use esocial_benefits::catalog::Benefit;
use esocial_benefits::{Disability, Household};

use super::html::{Lang, escape, page};
use super::pdf::Document;
use super::{MEMBER_ROWS, household_of, list, pdf_link, sheet_of};

/// Characters a query value keeps as they are; every other byte is percent-encoded.
fn query_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_')
}

fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if query_safe(byte) {
            encoded.push(byte as char);
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

fn disability_code(disability: Disability) -> &'static str {
    match disability {
        Disability::Severe => "severe",
        Disability::Accentuated => "accentuated",
        Disability::Medium => "medium",
    }
}

/// The address of `benefit`'s application sheet filled with `household`, whose members sat in
/// the questionnaire's `rows`.
pub fn filled_link(lang: Lang, benefit: &Benefit, household: &Household, rows: &[usize]) -> String {
    let mut link = format!("/{}/beneficii/{}/cerere?", lang.code(), encode(&benefit.id));
    for (member, row) in household.members.iter().zip(rows) {
        let _ = write!(link, "m{row}b={}&", encode(&member.birth_date));
        if let Some(income) = member.monthly_income {
            let _ = write!(link, "m{row}v={}&", encode(&income.to_string()));
        }
        if member.studying {
            let _ = write!(link, "m{row}s=1&");
        }
        if let Some(disability) = member.disability {
            let _ = write!(link, "m{row}d={}&", disability_code(disability));
        }
    }
    link.pop();
    link
}

fn disability_text(lang: Lang, disability: Option<Disability>) -> &'static str {
    match disability {
        None => "",
        Some(Disability::Severe) => lang.pick("severă", "тяжёлая"),
        Some(Disability::Accentuated) => lang.pick("accentuată", "выраженная"),
        Some(Disability::Medium) => lang.pick("medie", "умеренная"),
    }
}

/// A line to write on by hand.
const BLANK: &str = "<span class=\"blank\"></span>";

/// The application sheet's HTML page.
pub fn application_html(
    lang: Lang,
    benefit: &Benefit,
    query: &BTreeMap<String, String>,
    printable_pdf: bool,
) -> String {
    let (household, rows) = household_of(query);
    let sheet = sheet_of(lang, benefit);
    let name = lang.text(&benefit.name);
    let mut body = format!(
        "<h1>{title}: {name}</h1>\
         <p class=\"notice\">{notice}</p><ul>{filed}</ul>\
         <p class=\"noprint\">{print}</p>\
         <h2>{applicant}</h2><table class=\"fill\"><tbody>",
        title = lang.pick("Pregătirea cererii", "Подготовка заявления"),
        name = escape(name),
        notice = lang.pick(
            "Aceasta nu este formularul oficial. Vă ajută să pregătiți datele pe care le cere \
             cererea; formularul oficial se completează și se semnează acolo unde se depune:",
            "Это не официальный бланк. Он помогает подготовить сведения, которые требует \
             заявление; официальный бланк заполняется и подписывается там, где подаётся:"
        ),
        filed = sheet
            .forms
            .iter()
            .map(|form| format!("<li>{}</li>", escape(form)))
            .collect::<String>(),
        print = if printable_pdf && household.members.is_empty() {
            pdf_link(
                lang,
                benefit,
                Document::Application,
                lang.pick("Descarcă foaia goală (PDF)", "Скачать пустой бланк (PDF)"),
            )
        } else {
            lang.pick(
                "Tipăriți pagina cu comanda de tipărire a navigatorului. Datele introduse nu \
                 sunt păstrate.",
                "Распечатайте страницу командой печати браузера. Введённые данные не \
                 сохраняются.",
            )
            .to_string()
        },
        applicant = lang.pick("Solicitantul", "Заявитель"),
    );
    for field in [
        lang.pick("Numele și prenumele", "Фамилия и имя"),
        lang.pick("IDNP", "IDNP"),
        lang.pick("Adresa de domiciliu", "Адрес проживания"),
        lang.pick("Telefon", "Телефон"),
    ] {
        let _ = write!(
            body,
            "<tr><th scope=\"row\">{field}</th><td>{BLANK}</td></tr>"
        );
    }
    let _ = write!(
        body,
        "</tbody></table><h2>{members}</h2><table class=\"fill\"><thead><tr>\
         <th scope=\"col\">#</th><th scope=\"col\">{person}</th><th scope=\"col\">{relation}</th>\
         <th scope=\"col\">{birth}</th><th scope=\"col\">{income}</th>\
         <th scope=\"col\">{studying}</th><th scope=\"col\">{disability}</th></tr></thead><tbody>",
        members = lang.pick("Membrii familiei", "Члены семьи"),
        person = lang.pick("Numele și prenumele", "Фамилия и имя"),
        relation = lang.pick("Legătura cu solicitantul", "Родство с заявителем"),
        birth = lang.pick("Data nașterii", "Дата рождения"),
        income = lang.pick("Venitul lunar, lei", "Ежемесячный доход, леев"),
        studying = lang.pick("Învață la zi", "Учится на дневном"),
        disability = lang.pick("Dizabilitate", "Инвалидность"),
    );
    let filled = household.members.iter().zip(rows.iter().copied());
    let mut written = 0;
    for (member, row) in filled {
        written += 1;
        let relation = if row == 0 {
            lang.pick("solicitantul", "заявитель")
        } else {
            ""
        };
        let _ = write!(
            body,
            "<tr><td>{written}</td><td>{BLANK}</td><td>{relation}</td><td>{birth}</td>\
             <td>{income}</td><td>{studying}</td><td>{disability}</td></tr>",
            birth = escape(&member.birth_date),
            income = member
                .monthly_income
                .map(|income| income.to_string())
                .unwrap_or_default(),
            studying = if member.studying {
                lang.pick("da", "да")
            } else {
                ""
            },
            disability = disability_text(lang, member.disability),
        );
    }
    for blank in written..MEMBER_ROWS {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{BLANK}</td><td></td><td></td><td></td><td></td><td></td></tr>",
            blank + 1
        );
    }
    let _ = write!(
        body,
        "</tbody></table>\
         <h2>{conditions_title}</h2><p>{conditions_intro}</p>{conditions}\
         <h2>{obligations_title}</h2>{obligations}\
         <h2>{declaration_title}</h2><p>{declaration}</p>\
         <table class=\"fill\"><tbody><tr><th scope=\"row\">{date}</th><td>{BLANK}</td></tr>\
         <tr><th scope=\"row\">{signature}</th><td>{BLANK}</td></tr></tbody></table>\
         <h2>{legal_title}</h2><ul>",
        conditions_title = lang.pick("Ce verifică autoritatea", "Что проверяет орган"),
        conditions_intro = lang.pick(
            "Pregătiți actele care arată aceste condiții:",
            "Подготовьте документы, подтверждающие эти условия:"
        ),
        conditions = list(&sheet.conditions),
        obligations_title = lang.pick("Obligațiile dumneavoastră", "Ваши обязанности"),
        obligations = list(&sheet.obligations),
        declaration_title = lang.pick("Declarație", "Заявление"),
        declaration = lang.pick(
            "Declar că datele de mai sus sunt complete și corecte.",
            "Заявляю, что приведённые выше сведения полны и верны."
        ),
        date = lang.pick("Data", "Дата"),
        signature = lang.pick("Semnătura", "Подпись"),
        legal_title = lang.pick("Temeiul legal", "Правовая основа"),
    );
    for basis in &benefit.legal_basis {
        let _ = write!(
            body,
            "<li>{act}: {articles}</li>",
            act = escape(&basis.act),
            articles = escape(&basis.articles.join(", ")),
        );
    }
    body.push_str("</ul>");
    page(
        lang,
        &format!(
            "{}: {name}",
            lang.pick("Pregătirea cererii", "Подготовка заявления")
        ),
        &format!("/{}/beneficii/{}/cerere", lang.other().code(), benefit.id),
        &body,
    )
}
