//! The public pages of the benefits catalog, server-rendered in Romanian and Russian, that work
//! without JavaScript: the catalog by life situation, each info sheet (with a print layout),
//! a search that ignores diacritics, the estimator as a short questionnaire with its explained
//! result, and the usage counts. Served on `server.public_listen` over plain HTTP, for the
//! reverse proxy in front of it. Nothing the questionnaire asks is kept or logged: the answers
//! live only in the request, and the usage counts (kept per day in the store) hold no personal
//! data.

mod application;
mod html;
mod pdf;
mod search;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{HttpResponse, HttpServer, web};
use esocial_benefits::catalog::{Benefit, Period, Status};
use esocial_benefits::estimate::{BenefitEstimate, Evaluation, Input, Outcome};
use esocial_benefits::{Catalog, Disability, Household, Member};
use time::OffsetDateTime;

use crate::benefits::count_use;
use crate::metrics::HubMetrics;
use esocial_store::{Store, Usage};
use html::{Lang, escape, page};

/// Rows of the questionnaire: household members one may describe.
const MEMBER_ROWS: usize = 6;

pub struct PagesState {
    pub catalog: Arc<Catalog>,
    /// Where the usage counts are kept.
    pub store: Store,
    pub metrics: HubMetrics,
    /// Prints sheets to PDF; no PDF downloads when absent.
    pdf: Option<pdf::PdfPrinter>,
}

/// Starts the public pages on `listener`; with `pdf_browser`, sheets download as PDF too.
pub fn pages_server(
    listener: TcpListener,
    catalog: Arc<Catalog>,
    store: Store,
    metrics: HubMetrics,
    pdf_browser: Option<std::path::PathBuf>,
) -> std::io::Result<Server> {
    let port = listener.local_addr()?.port();
    let state = web::Data::new(PagesState {
        catalog,
        store,
        metrics,
        pdf: pdf_browser
            .map(|browser| pdf::PdfPrinter::new(browser, format!("http://127.0.0.1:{port}"))),
    });
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .route("/", web::get().to(root))
            .route("/{lang}/", web::get().to(catalog_page))
            .route("/{lang}/beneficii/{id}", web::get().to(sheet_page))
            .route("/{lang}/beneficii/{id}/pdf", web::get().to(sheet_pdf))
            .route(
                "/{lang}/beneficii/{id}/cerere",
                web::get().to(application_page),
            )
            .route(
                "/{lang}/beneficii/{id}/cerere/pdf",
                web::get().to(application_pdf),
            )
            .route("/{lang}/cautare", web::get().to(search_page))
            .route("/{lang}/estimare", web::get().to(estimator_page))
            .route("/{lang}/statistici", web::get().to(statistics_page))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ro/"))
        .finish()
}

async fn not_found() -> HttpResponse {
    let body = page(
        Lang::Ro,
        "Pagina nu există",
        "/ru/",
        "<h1>Pagina nu există · Страница не найдена</h1>\
         <p><a href=\"/ro/\">Catalogul prestațiilor</a> · <a href=\"/ru/\" lang=\"ru\">Каталог выплат</a></p>",
    );
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn lang_of(segment: &str) -> Option<Lang> {
    Lang::from_path(segment)
}

fn period_text(lang: Lang, period: Period) -> &'static str {
    match period {
        Period::Month => lang.pick("lunar", "ежемесячно"),
        Period::Once => lang.pick("o singură dată", "единовременно"),
    }
}

fn benefit_item(lang: Lang, benefit: &Benefit) -> String {
    format!(
        "<li><a href=\"/{code}/beneficii/{id}\">{name}</a><br>{summary}</li>",
        code = lang.code(),
        id = escape(&benefit.id),
        name = escape(lang.text(&benefit.name)),
        summary = escape(&sheet_of(lang, benefit).summary),
    )
}

fn sheet_of(lang: Lang, benefit: &Benefit) -> &esocial_benefits::catalog::Sheet {
    match lang {
        Lang::Ro => &benefit.sheet.ro,
        Lang::Ru => &benefit.sheet.ru,
    }
}

async fn catalog_page(path: web::Path<String>, state: web::Data<PagesState>) -> HttpResponse {
    let Some(lang) = lang_of(&path) else {
        return not_found().await;
    };
    let catalog = &state.catalog;
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><p><a href=\"/{}/estimare\">{}</a></p>",
        lang.pick("Prestații sociale", "Социальные выплаты"),
        lang.pick(
            "Fișele prestațiilor de asistență socială, grupate după situații de viață.",
            "Карточки выплат социальной помощи, сгруппированные по жизненным ситуациям."
        ),
        lang.code(),
        lang.pick(
            "Estimați ce prestații ați putea primi",
            "Оцените, какие выплаты вы могли бы получать"
        ),
    );
    for situation in &catalog.situations {
        let benefits: Vec<&Benefit> = catalog
            .benefits
            .iter()
            .filter(|b| b.situations.contains(&situation.id))
            .collect();
        if benefits.is_empty() {
            continue;
        }
        let _ = write!(
            body,
            "<section id=\"{id}\"><h2>{name}</h2><ul>",
            id = escape(&situation.id),
            name = escape(lang.pick(&situation.ro, &situation.ru)),
        );
        for benefit in benefits {
            body.push_str(&benefit_item(lang, benefit));
        }
        body.push_str("</ul></section>");
    }
    html(page(
        lang,
        lang.pick("Prestații sociale", "Социальные выплаты"),
        &format!("/{}/", lang.other().code()),
        &body,
    ))
}

fn status_text(lang: Lang, status: Status) -> &'static str {
    match status {
        Status::Confirmed => lang.pick(
            "confirmat de o sursă publică",
            "подтверждено публичным источником",
        ),
        Status::Draft => lang.pick(
            "doar proiect; actul adoptat nu a fost găsit",
            "только проект; принятый акт не найден",
        ),
        Status::Unconfirmed => lang.pick(
            "neconfirmat de o sursă publică",
            "не подтверждено публичным источником",
        ),
    }
}

/// The download link of a benefit's page printed to PDF.
fn pdf_link(lang: Lang, benefit: &Benefit, document: pdf::Document, text: &str) -> String {
    format!(
        "<a href=\"{}/pdf\" download>{}</a>",
        escape(&document.path(lang.code(), &benefit.id)),
        escape(text)
    )
}

/// The language and the benefit a page's address names, when both exist.
fn language_and_benefit<'a>(
    state: &'a PagesState,
    (lang, id): &(String, String),
) -> Option<(Lang, &'a Benefit)> {
    Some((lang_of(lang)?, state.catalog.benefit(id)?))
}

fn list(items: &[String]) -> String {
    let mut html = String::from("<ul>");
    for item in items {
        let _ = write!(html, "<li>{}</li>", escape(item));
    }
    html.push_str("</ul>");
    html
}

async fn sheet_page(
    path: web::Path<(String, String)>,
    query: web::Query<BTreeMap<String, String>>,
    state: web::Data<PagesState>,
) -> HttpResponse {
    let Some((lang, benefit)) = language_and_benefit(&state, &path) else {
        return not_found().await;
    };
    let catalog = &state.catalog;
    // The PDF printer's own visit is no view.
    if !query.contains_key(pdf::PRINTING) {
        count_use(
            &state.store,
            &state.metrics,
            Usage::View {
                benefit: &benefit.id,
            },
        )
        .await;
    }
    let sheet = sheet_of(lang, benefit);
    let mut body = format!(
        "<h1>{name}</h1><p>{summary}</p>\
         <p class=\"noprint\">{print}</p>\
         <h2>{conditions_title}</h2>{conditions}\
         <h2>{obligations_title}</h2>{obligations}\
         <h2>{payment_title}</h2><p>{payment}</p>\
         <h2>{forms_title}</h2>{forms}\
         <h2>{legal_title}</h2><ul>",
        name = escape(lang.text(&benefit.name)),
        summary = escape(&sheet.summary),
        print = if state.pdf.is_some() {
            pdf_link(
                lang,
                benefit,
                pdf::Document::Sheet,
                lang.pick("Descarcă fișa (PDF)", "Скачать карточку (PDF)"),
            )
        } else {
            lang.pick(
                "Pentru a tipări fișa, folosiți comanda de tipărire a navigatorului: pagina \
                 are un format de tipar.",
                "Чтобы распечатать карточку, используйте печать в браузере: у страницы есть \
                 формат для печати.",
            )
            .to_string()
        },
        conditions_title = lang.pick("Condiții", "Условия"),
        conditions = list(&sheet.conditions),
        obligations_title = lang.pick("Obligații", "Обязанности"),
        obligations = list(&sheet.obligations),
        payment_title = lang.pick("Modalitatea de plată", "Порядок выплаты"),
        payment = escape(&sheet.payment),
        forms_title = lang.pick("Formulare", "Формы"),
        forms = list(&sheet.forms)
            + &format!(
                "<p class=\"noprint\"><a href=\"/{code}/beneficii/{id}/cerere\">{text}</a></p>",
                code = lang.code(),
                id = escape(&benefit.id),
                text = lang.pick(
                    "Pregătiți cererea: foaia cu datele pe care le cere",
                    "Подготовьте заявление: бланк со сведениями, которые оно требует"
                ),
            ),
        legal_title = lang.pick("Temeiul legal", "Правовая основа"),
    );
    for basis in &benefit.legal_basis {
        let _ = write!(
            body,
            "<li><a href=\"{url}\">{act}</a>: {articles}</li>",
            url = escape(&basis.url),
            act = escape(&basis.act),
            articles = escape(&basis.articles.join(", ")),
        );
    }
    let _ = write!(
        body,
        "</ul><h2>{}</h2><p>{}</p>",
        lang.pick(
            "Cifrele folosite și sursele lor",
            "Используемые цифры и их источники"
        ),
        lang.pick(
            "Fiecare cifră se aplică de la data arătată până la următoarea, sau până la ultima \
             zi pentru care este cunoscută.",
            "Каждая цифра действует с указанной даты до следующей или до последнего дня, для \
             которого она известна."
        ),
    );
    for parameter in catalog.parameters_of(benefit) {
        let _ = write!(
            body,
            "<h3>{label}</h3><table><thead><tr><th scope=\"col\">{from}</th>\
             <th scope=\"col\">{value}</th><th scope=\"col\">{status}</th>\
             <th scope=\"col\">{source}</th></tr></thead><tbody>",
            label = escape(lang.text(&parameter.label)),
            from = lang.pick("De la", "С"),
            value = lang.pick("Valoare", "Значение"),
            status = lang.pick("Stare", "Статус"),
            source = lang.pick("Sursa", "Источник"),
        );
        for value in &parameter.value {
            let _ = write!(
                body,
                "<tr><td>{from}</td><td>{value} {unit}</td><td>{status}</td>\
                 <td><a href=\"{url}\">{source}</a></td></tr>",
                from = match &value.until {
                    Some(until) => format!(
                        "{} {} {}",
                        escape(&value.from),
                        lang.pick("până la", "по"),
                        escape(until)
                    ),
                    None => escape(&value.from),
                },
                value = value.value,
                unit = escape(unit_text(lang, &parameter.unit)),
                status = status_text(lang, value.status),
                url = escape(&value.url),
                source = escape(&value.source),
            );
        }
        body.push_str("</tbody></table>");
    }
    html(page(
        lang,
        lang.text(&benefit.name),
        &format!("/{}/beneficii/{}", lang.other().code(), benefit.id),
        &body,
    ))
}

async fn sheet_pdf(
    path: web::Path<(String, String)>,
    state: web::Data<PagesState>,
) -> HttpResponse {
    printed(path.into_inner(), pdf::Document::Sheet, &state).await
}

async fn application_pdf(
    path: web::Path<(String, String)>,
    state: web::Data<PagesState>,
) -> HttpResponse {
    printed(path.into_inner(), pdf::Document::Application, &state).await
}

/// A benefit's sheet or blank application sheet as a PDF download.
async fn printed(
    (lang, id): (String, String),
    document: pdf::Document,
    state: &PagesState,
) -> HttpResponse {
    let (Some(lang), Some(printer)) = (lang_of(&lang), state.pdf.as_ref()) else {
        return not_found().await;
    };
    if state.catalog.benefit(&id).is_none() {
        return not_found().await;
    }
    match printer.print(lang.code(), &id, document).await {
        Ok(pdf) => HttpResponse::Ok()
            .content_type("application/pdf")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{id}-{}{}.pdf\"",
                    document.file_suffix(),
                    lang.code()
                ),
            ))
            .body(pdf.as_ref().clone()),
        Err(error) => {
            tracing::warn!(%error, benefit = %id, "cannot print to PDF");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(lang.pick(
                    "Pagina nu poate fi descărcată acum ca PDF; folosiți tipărirea navigatorului.",
                    "Сейчас страницу нельзя скачать в PDF; используйте печать в браузере.",
                ))
        }
    }
}

async fn application_page(
    path: web::Path<(String, String)>,
    query: web::Query<BTreeMap<String, String>>,
    state: web::Data<PagesState>,
) -> HttpResponse {
    let Some((lang, benefit)) = language_and_benefit(&state, &path) else {
        return not_found().await;
    };
    html(application::application_html(
        lang,
        benefit,
        &query,
        state.pdf.is_some(),
    ))
}

fn unit_text(lang: Lang, unit: &str) -> &str {
    match unit {
        "lei" => lang.pick("lei", "леев"),
        "share" => lang.pick("(cotă)", "(доля)"),
        "factor" => lang.pick("(multiplicator)", "(коэффициент)"),
        other => other,
    }
}

async fn search_page(
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
    state: web::Data<PagesState>,
) -> HttpResponse {
    let Some(lang) = lang_of(&path) else {
        return not_found().await;
    };
    let text = query.get("q").map(String::as_str).unwrap_or_default();
    let text = &text[..text.len().min(200)];
    let words = search::words(text);
    let mut found: Vec<(usize, &Benefit)> = state
        .catalog
        .benefits
        .iter()
        .filter_map(|benefit| search::score(benefit, &words).map(|score| (score, benefit)))
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut body = format!(
        "<h1>{title}</h1><p>{said} <strong>{text}</strong></p>",
        title = lang.pick("Rezultatele căutării", "Результаты поиска"),
        said = lang.pick("Ați căutat:", "Вы искали:"),
        text = escape(text),
    );
    if found.is_empty() {
        let _ = write!(
            body,
            "<p>{}</p>",
            lang.pick(
                "Nicio prestație nu conține toate aceste cuvinte.",
                "Ни одна выплата не содержит все эти слова."
            )
        );
    } else {
        body.push_str("<ul>");
        for (_, benefit) in found {
            body.push_str(&benefit_item(lang, benefit));
        }
        body.push_str("</ul>");
    }
    html(page(
        lang,
        lang.pick("Căutare", "Поиск"),
        &format!("/{}/", lang.other().code()),
        &body,
    ))
}

/// The household the questionnaire describes: the rows with a date of birth, in order, and the
/// row each member came from.
fn household_of(query: &BTreeMap<String, String>) -> (Household, Vec<usize>) {
    let mut members = Vec::new();
    let mut rows = Vec::new();
    for row in 0..MEMBER_ROWS {
        let field = |name: &str| {
            query
                .get(&format!("m{row}{name}"))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let Some(birth) = field("b") else {
            continue;
        };
        members.push(Member {
            birth_date: birth.to_string(),
            // A number that does not parse is left unknown; the estimate then says so.
            monthly_income: field("v").and_then(|v| v.replace(',', ".").parse().ok()),
            studying: field("s").is_some(),
            disability: match field("d") {
                Some("severe") => Some(Disability::Severe),
                Some("accentuated") => Some(Disability::Accentuated),
                Some("medium") => Some(Disability::Medium),
                _ => None,
            },
        });
        rows.push(row);
    }
    let date = query
        .get("data")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    (Household { date, members }, rows)
}

/// An input field's name, as the person who filled the form knows it.
fn field_text(lang: Lang, field: &str, rows: &[usize]) -> String {
    let Some(rest) = field.strip_prefix("members[") else {
        return match field {
            "date" => lang.pick("Data estimării", "Дата оценки").to_string(),
            "members" => lang.pick("Membrii gospodăriei", "Члены семьи").to_string(),
            other => other.to_string(),
        };
    };
    let (index, what) = rest.split_once("].").unwrap_or((rest, ""));
    let row = index
        .parse::<usize>()
        .ok()
        .and_then(|i| rows.get(i).copied())
        .map_or(0, |row| row + 1);
    let what = match what {
        "birthDate" => lang.pick("data nașterii", "дата рождения"),
        "monthlyIncome" => lang.pick("venitul lunar", "ежемесячный доход"),
        "disability" => lang.pick("gradul de dizabilitate", "степень инвалидности"),
        other => other,
    };
    format!("{} {row}: {what}", lang.pick("Persoana", "Человек"))
}

fn fact_text(lang: Lang, name: &str) -> String {
    match name {
        "adulti" => lang.pick("Adulți în gospodărie", "Взрослых в семье").into(),
        "copii" => lang.pick("Copii în gospodărie", "Детей в семье").into(),
        "venit_familie" => lang
            .pick("Venitul lunar al gospodăriei", "Ежемесячный доход семьи")
            .into(),
        "luna" => lang.pick("Luna", "Месяц").into(),
        "copii_sub_2_ani" => lang.pick("Copii sub 2 ani", "Детей до 2 лет").into(),
        "varsta_luni" => lang
            .pick("Vârsta copilului, în luni", "Возраст ребёнка, в месяцах")
            .into(),
        other => other.into(),
    }
}

fn outcome_text(lang: Lang, outcome: Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Eligible => (
            "eligible",
            lang.pick("Probabil aveți dreptul", "Вероятно, вы имеете право"),
        ),
        Outcome::NotEligible => (
            "not_eligible",
            lang.pick("Probabil nu aveți dreptul", "Вероятно, вы не имеете права"),
        ),
        Outcome::CannotTell => (
            "cannot_tell",
            lang.pick("Nu se poate spune încă", "Пока нельзя определить"),
        ),
    }
}

fn value_text(value: Option<&serde_json::Value>) -> String {
    match value {
        None => "—".into(),
        Some(serde_json::Value::Bool(true)) => "✓".into(),
        Some(serde_json::Value::Bool(false)) => "✗".into(),
        Some(other) => escape(&other.to_string()),
    }
}

fn input_row(lang: Lang, input: &Input) -> String {
    let (label, source) = match &input.parameter {
        Some(figure) => (
            escape(lang.text(&figure.label)),
            format!(
                "{from} {date}, <a href=\"{url}\">{source}</a> ({status})",
                from = lang.pick("în vigoare de la", "действует с"),
                date = escape(&figure.from),
                url = escape(&figure.url),
                source = escape(&figure.source),
                status = status_text(lang, figure.status),
            ),
        ),
        None if input.kind == "fact" => (
            escape(&fact_text(lang, &input.name)),
            lang.pick("din datele introduse", "из введённых данных")
                .into(),
        ),
        None => (
            format!("<code>{}</code>", escape(&input.name)),
            lang.pick(
                "rezultatul unei reguli de mai sus",
                "результат правила выше",
            )
            .into(),
        ),
    };
    format!(
        "<tr><td>{label}</td><td>{value}</td><td>{source}</td></tr>",
        value = value_text(input.value.as_ref()),
    )
}

fn evaluation_html(lang: Lang, evaluation: &Evaluation) -> String {
    let mut html = format!(
        "<p>{} {}</p><ol>",
        lang.pick("Cifre în vigoare la", "Цифры, действующие на"),
        escape(&evaluation.figures_of)
    );
    for step in &evaluation.trace {
        let _ = write!(
            html,
            "<li><p>{explains} <em>({article})</em></p>",
            explains = escape(lang.text(&step.explains)),
            article = escape(&step.article),
        );
        if let Some(note) = &step.note {
            let _ = write!(html, "<p class=\"notice\">{}</p>", escape(lang.text(note)));
        }
        let _ = write!(
            html,
            "<table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th></tr></thead><tbody>",
            lang.pick("Ce", "Что"),
            lang.pick("Valoare", "Значение"),
            lang.pick("De unde", "Откуда"),
        );
        for input in &step.inputs {
            html.push_str(&input_row(lang, input));
        }
        let _ = write!(
            html,
            "</tbody></table><p>{} <code>{}</code> = <strong>{}</strong></p></li>",
            lang.pick("Rezultat:", "Результат:"),
            escape(&step.sets),
            value_text(step.result.as_ref()),
        );
    }
    html.push_str("</ol>");
    html
}

fn result_html(
    lang: Lang,
    catalog: &Catalog,
    estimate: &BenefitEstimate,
    household: &Household,
    rows: &[usize],
) -> String {
    let (class, outcome) = outcome_text(lang, estimate.outcome);
    let mut html = format!(
        "<section><h3>{name}</h3><p class=\"outcome-{class}\">{outcome}</p>",
        name = escape(lang.text(&estimate.name)),
    );
    if let Some(amount) = estimate.amount {
        let _ = write!(
            html,
            "<p>{}: <strong>{amount} {}</strong> ({})</p>",
            lang.pick("Suma estimată", "Оценочная сумма"),
            lang.pick("lei", "леев"),
            period_text(lang, estimate.period),
        );
    }
    if let Some(reason) = &estimate.reason {
        let _ = write!(html, "<p>{}</p>", escape(lang.text(reason)));
    }
    if !estimate.missing.is_empty() {
        let _ = write!(
            html,
            "<p>{}</p><ul>",
            lang.pick(
                "Ca să se poată spune, lipsesc:",
                "Чтобы определить, не хватает:"
            )
        );
        for missing in &estimate.missing {
            let _ = write!(
                html,
                "<li>{}</li>",
                escape(&field_text(lang, missing, rows))
            );
        }
        html.push_str("</ul>");
    }
    for evaluation in &estimate.evaluations {
        let who = match evaluation.member {
            Some(index) => format!(
                "{} {}",
                lang.pick("Pentru persoana", "Для человека"),
                rows.get(index).map_or(0, |row| row + 1)
            ),
            None => lang.pick("Pentru gospodărie", "Для семьи").into(),
        };
        let _ = write!(
            html,
            "<details><summary>{} — {}</summary>{}</details>",
            lang.pick("Cum s-a calculat", "Как рассчитано"),
            escape(&who),
            evaluation_html(lang, &evaluation.evaluation),
        );
    }
    if estimate.outcome != Outcome::NotEligible
        && let Some(benefit) = catalog.benefit(&estimate.id)
    {
        let _ = write!(
            html,
            "<p class=\"noprint\"><a href=\"{link}\">{text}</a></p>",
            link = escape(&application::filled_link(lang, benefit, household, rows)),
            text = lang.pick(
                "Pregătiți cererea cu datele introduse",
                "Подготовьте заявление с введёнными данными"
            ),
        );
    }
    html.push_str("</section>");
    html
}

/// The options of a member's disability degree, `chosen` selected.
fn disability_options(lang: Lang, chosen: Option<&str>) -> String {
    [
        ("", lang.pick("nu", "нет")),
        ("severe", lang.pick("severă", "тяжёлая")),
        ("accentuated", lang.pick("accentuată", "выраженная")),
        ("medium", lang.pick("medie", "умеренная")),
    ]
    .iter()
    .map(|(value, label)| {
        let selected = if chosen == Some(*value) {
            " selected"
        } else {
            ""
        };
        format!("<option value=\"{value}\"{selected}>{label}</option>")
    })
    .collect()
}

fn form_html(lang: Lang, query: &BTreeMap<String, String>) -> String {
    let value = |name: &str| escape(query.get(name).map(String::as_str).unwrap_or_default());
    let mut html = format!(
        "<form method=\"get\" action=\"/{code}/estimare\"><input type=\"hidden\" name=\"trimis\" value=\"1\">\
         <p><label for=\"data\">{date}</label> <input id=\"data\" name=\"data\" type=\"date\" value=\"{date_value}\"> \
         <span>{date_help}</span></p>",
        code = lang.code(),
        date = lang.pick("Data estimării", "Дата оценки"),
        date_value = value("data"),
        date_help = lang.pick("(azi, dacă rămâne goală)", "(сегодня, если не заполнено)"),
    );
    for row in 0..MEMBER_ROWS {
        let legend = if row == 0 {
            lang.pick("Persoana 1 (solicitantul)", "Человек 1 (заявитель)")
                .to_string()
        } else {
            format!("{} {}", lang.pick("Persoana", "Человек"), row + 1)
        };
        let checked = if query.contains_key(&format!("m{row}s")) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<fieldset><legend>{legend}</legend>\
             <p><label for=\"m{row}b\">{birth}</label> <input id=\"m{row}b\" name=\"m{row}b\" type=\"date\" value=\"{b}\"></p>\
             <p><label for=\"m{row}v\">{income}</label> <input id=\"m{row}v\" name=\"m{row}v\" type=\"number\" min=\"0\" step=\"any\" inputmode=\"decimal\" value=\"{v}\"></p>\
             <p><input id=\"m{row}s\" name=\"m{row}s\" type=\"checkbox\" value=\"1\"{checked}> <label for=\"m{row}s\">{studying}</label></p>\
             <p><label for=\"m{row}d\">{disability}</label> <select id=\"m{row}d\" name=\"m{row}d\">{options}</select></p>\
             </fieldset>",
            legend = escape(&legend),
            birth = lang.pick("Data nașterii", "Дата рождения"),
            b = value(&format!("m{row}b")),
            income = lang.pick("Venitul lunar, lei", "Ежемесячный доход, леев"),
            v = value(&format!("m{row}v")),
            studying = lang.pick("Învață la zi", "Учится на дневном отделении"),
            disability = lang.pick("Dizabilitate stabilită", "Установленная инвалидность"),
            options = disability_options(lang, query.get(&format!("m{row}d")).map(String::as_str)),
        );
    }
    let _ = write!(
        html,
        "<p><button type=\"submit\">{}</button></p></form>",
        lang.pick("Estimează", "Оценить")
    );
    html
}

async fn estimator_page(
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
    state: web::Data<PagesState>,
) -> HttpResponse {
    let Some(lang) = lang_of(&path) else {
        return not_found().await;
    };
    let query = query.into_inner();
    let mut body = format!(
        "<h1>{title}</h1><p class=\"notice\">{intro}</p>",
        title = lang.pick("Calculator personal", "Личный калькулятор"),
        intro = lang.pick(
            "Descrieți gospodăria: data nașterii și venitul lunar al fiecărei persoane. \
             Rezultatul este o estimare, nu o decizie. Datele nu sunt păstrate.",
            "Опишите семью: дату рождения и ежемесячный доход каждого человека. Результат — \
             оценка, а не решение. Данные не сохраняются."
        ),
    );
    if query.contains_key("trimis") {
        let (household, rows) = household_of(&query);
        let today = OffsetDateTime::now_utc().date();
        match esocial_benefits::estimate(&state.catalog, &household, today) {
            Ok(estimate) => {
                count_use(
                    &state.store,
                    &state.metrics,
                    Usage::Estimate { channel: "pages" },
                )
                .await;
                let _ = write!(
                    body,
                    "<section aria-labelledby=\"result\"><h2 id=\"result\">{title}</h2>\
                     <p class=\"notice\">{notice}</p>",
                    title = lang.pick("Rezultatul estimării", "Результат оценки"),
                    notice = escape(lang.text(&estimate.notice)),
                );
                for benefit in &estimate.benefits {
                    body.push_str(&result_html(
                        lang,
                        &state.catalog,
                        benefit,
                        &household,
                        &rows,
                    ));
                }
                let _ = write!(
                    body,
                    "<p><small>{} {} · {} · {} {}</small></p></section>",
                    lang.pick("Setul de reguli", "Набор правил"),
                    escape(&estimate.receipt.ruleset_version),
                    escape(&estimate.receipt.ruleset_hash),
                    lang.pick("datele:", "данные:"),
                    escape(&estimate.receipt.input_digest),
                );
            }
            Err(error) => {
                let _ = write!(
                    body,
                    "<p class=\"error\" role=\"alert\">{}: {}</p>",
                    escape(&field_text(lang, &error.field, &rows)),
                    escape(&error.problem),
                );
            }
        }
    }
    body.push_str(&form_html(lang, &query));
    html(page(
        lang,
        lang.pick("Calculator personal", "Личный калькулятор"),
        &format!("/{}/estimare", lang.other().code()),
        &body,
    ))
}

async fn statistics_page(path: web::Path<String>, state: web::Data<PagesState>) -> HttpResponse {
    let Some(lang) = lang_of(&path) else {
        return not_found().await;
    };
    let title = lang.pick("Statistici de utilizare", "Статистика использования");
    let totals = match state.store.usage_totals().await {
        Ok(totals) => totals,
        Err(error) => {
            tracing::warn!(%error, "the benefits usage counts could not be read");
            let body = format!(
                "<h1>{title}</h1><p class=\"error\" role=\"alert\">{}</p>",
                lang.pick(
                    "Statisticile nu sunt disponibile acum. Încercați mai târziu.",
                    "Статистика сейчас недоступна. Попробуйте позже."
                )
            );
            let mut response = html(page(
                lang,
                title,
                &format!("/{}/statistici", lang.other().code()),
                &body,
            ));
            *response.status_mut() = actix_web::http::StatusCode::SERVICE_UNAVAILABLE;
            return response;
        }
    };
    let since = match &totals.since {
        Some(day) => format!("{} {}", lang.pick("din", "с"), escape(day)),
        None => lang
            .pick("încă nimic numărat", "пока ничего не подсчитано")
            .to_string(),
    };
    let mut body = format!(
        "<h1>{title}</h1><p>{}</p><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        lang.pick(
            "Numărul de vizualizări ale fiecărei fișe și de estimări, pe zile, adunate",
            "Число просмотров каждой карточки и оценок, по дням, в сумме"
        )
        .to_string()
            + " ("
            + &since
            + "). "
            + lang.pick("Nu conțin date personale.", "Без персональных данных."),
        lang.pick("Fișa", "Карточка"),
        lang.pick("Vizualizări", "Просмотры"),
    );
    for benefit in &state.catalog.benefits {
        let _ = write!(
            body,
            "<tr><td><a href=\"/{code}/beneficii/{id}\">{name}</a></td><td>{views}</td></tr>",
            code = lang.code(),
            id = escape(&benefit.id),
            name = escape(lang.text(&benefit.name)),
            views = totals.views_of(&benefit.id),
        );
    }
    let _ = write!(
        body,
        "</tbody></table><p>{}: <strong>{}</strong>; {}: <strong>{}</strong></p>",
        lang.pick(
            "Estimări făcute cu calculatorul",
            "Оценок, сделанных калькулятором"
        ),
        totals.estimates_through("pages"),
        lang.pick("prin API", "через API"),
        totals.estimates_through("api"),
    );
    html(page(
        lang,
        title,
        &format!("/{}/statistici", lang.other().code()),
        &body,
    ))
}
