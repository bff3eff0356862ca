//! The public benefits pages: the catalog by life situation in Romanian and Russian, each info
//! sheet with its sources, a search that ignores diacritics, the questionnaire and its explained
//! result, the usage counts, and a walk through them in a real browser (headless Chromium from
//! Debian's `chromium`, driven over WebDriver by `chromedriver`): a person tabs through the
//! questionnaire, types the household, submits it with a click or with Enter, reads the
//! explained result, and screenshots are left in `target/browser-screenshots/`.

use std::path::{Path, PathBuf};

use crate::helpers::{SpawnOptions, TestApp, spawn_app, spawn_app_with};
use crate::postgres::fresh_postgres_database;
use crate::webdriver::{Browser, ENTER};

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}{path}", app.pages_address))
        .send()
        .await
        .expect("the pages answer");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The questionnaire's query for two adults and two children, the applicant earning 1,000 lei.
const FAMILY: &str = "trimis=1&data=2025-06-30&m0b=1990-03-10&m0v=1000&m1b=1991-07-22&m1v=0\
                      &m2b=2015-05-01&m2v=0&m3b=2018-09-12&m3v=0";

#[tokio::test]
async fn the_catalog_sheets_and_search_work_in_both_languages() {
    let app = spawn_app().await;
    let (status, ro) = page(&app, "/ro/").await;
    assert_eq!(status, 200);
    assert!(ro.contains("<html lang=\"ro\">"));
    assert!(ro.contains("Familie cu venituri mici") && ro.contains("Ajutor social"));
    assert!(ro.contains("href=\"/ru/\""), "a switch to Russian");
    let (_, ru) = page(&app, "/ru/").await;
    assert!(ru.contains("<html lang=\"ru\">") && ru.contains("Социальная помощь"));

    let (status, sheet) = page(&app, "/ro/beneficii/indemnizatie-unica-nastere").await;
    assert_eq!(status, 200);
    assert!(sheet.contains("Legea nr. 315 din 23.12.2016"));
    assert!(sheet.contains("2024-01-01") && sheet.contains("20000 lei"));
    assert!(
        sheet.contains("doar proiect"),
        "the 2026 figure is a draft and says so"
    );
    assert!(sheet.contains("@media print"), "a print layout");
    assert_eq!(page(&app, "/ro/beneficii/nu-exista").await.0, 404);
    assert_eq!(page(&app, "/de/").await.0, 404);

    // Without diacritics, and in Russian.
    let (_, found) = page(&app, "/ro/cautare?q=indemnizatia+nastere").await;
    assert!(
        found.contains("/ro/beneficii/indemnizatie-unica-nastere"),
        "{found}"
    );
    assert!(!found.contains("/ro/beneficii/ajutor-social\""));
    let (_, found) = page(
        &app,
        "/ru/cautare?q=%D0%BF%D0%BE%D1%81%D0%BE%D0%B1%D0%B8%D0%B5+%D1%85%D0%BE%D0%BB%D0%BE%D0%B4",
    )
    .await;
    assert!(
        found.contains("/ru/beneficii/ajutor-perioada-rece"),
        "{found}"
    );
    let (_, nothing) = page(&app, "/ro/cautare?q=%3Cscript%3Ezzz").await;
    assert!(nothing.contains("&lt;script&gt;zzz") && !nothing.contains("<script>"));
}

#[tokio::test]
async fn the_questionnaire_explains_its_result_and_counts_without_personal_data() {
    let app = spawn_app().await;
    let (status, result) = page(&app, &format!("/ro/estimare?{FAMILY}")).await;
    assert_eq!(status, 200);
    assert!(result.contains("Probabil aveți dreptul"));
    assert!(
        result.contains("4702 lei"),
        "the social aid of the worked example"
    );
    assert!(result.contains("Legea nr. 133/2008, art. 7 alin. (2)"));
    assert!(result.contains("nu este o decizie"));
    let (_, russian) = page(&app, &format!("/ru/estimare?{FAMILY}")).await;
    assert!(russian.contains("Вероятно, вы имеете право") && russian.contains("4702 леев"));

    // A bad field is named, not quoted.
    let (_, refused) = page(&app, "/ro/estimare?trimis=1&m0b=1990-01-01&m0v=-777").await;
    assert!(refused.contains("Persoana 1: venitul lunar"), "{refused}");
    // The form gives the person's own input back to correct; the message never quotes it.
    let message = refused
        .split("<p class=\"error\" role=\"alert\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .expect("an error message");
    assert!(!message.contains("777"), "{message}");
    // An unknown income: cannot tell, and what is missing is said.
    let (_, unknown) = page(
        &app,
        "/ro/estimare?trimis=1&data=2025-06-30&m0b=1990-01-01&m0v=500&m1b=1992-01-01",
    )
    .await;
    assert!(unknown.contains("Nu se poate spune") && unknown.contains("Persoana 2: venitul lunar"));

    // A child with a severe disability, in 2019: the state allocation, 80 % of 809.50 lei.
    let (_, allocation) = page(
        &app,
        "/ro/estimare?trimis=1&data=2019-06-30&m0b=1985-01-01&m0v=3000&m1b=2012-05-05&m1v=0\
         &m1d=severe",
    )
    .await;
    assert!(allocation.contains("647.6 lei"), "{allocation}");
    assert!(allocation.contains("<option value=\"severe\" selected>"));

    page(&app, "/ro/beneficii/ajutor-social").await;
    let (_, statistics) = page(&app, "/ro/statistici").await;
    assert!(
        statistics.contains("<strong>4</strong>"),
        "four estimates (a refused one is none): {statistics}"
    );
    let metrics = app.get_ops("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("esocial_hub_benefit_views_total{benefit=\"ajutor-social\"} 1"));
    assert!(metrics.contains("esocial_hub_benefit_estimates_total{channel=\"pages\"} 4"));
    assert!(!metrics.contains("1990-03-10"));
}

#[tokio::test]
async fn each_benefit_has_an_application_sheet_blank_or_filled_from_the_questionnaire() {
    let app = spawn_app().await;
    for id in [
        "ajutor-social",
        "ajutor-perioada-rece",
        "indemnizatie-unica-nastere",
        "indemnizatie-ingrijire-copil",
        "indemnizatie-suport-gemeni",
        "alocatie-sociala-de-stat",
    ] {
        let (status, ro) = page(&app, &format!("/ro/beneficii/{id}/cerere")).await;
        assert_eq!(status, 200, "{id}");
        assert!(ro.contains("Aceasta nu este formularul oficial"), "{id}");
        assert!(ro.contains("Ce verifică autoritatea") && ro.contains("Semnătura"));
        assert_eq!(
            ro.matches("<tr><td>").count(),
            6,
            "six member rows, all blank: {id}"
        );
        let (status, ru) = page(&app, &format!("/ru/beneficii/{id}/cerere")).await;
        assert_eq!(status, 200, "{id}");
        assert!(ru.contains("Это не официальный бланк") && ru.contains("Подпись"));
        // The sheet leads to it.
        let (_, sheet) = page(&app, &format!("/ro/beneficii/{id}")).await;
        assert!(sheet.contains(&format!("href=\"/ro/beneficii/{id}/cerere\"")));
    }
    let (_, social) = page(&app, "/ro/beneficii/ajutor-social/cerere").await;
    assert!(
        social.contains("Cererea pentru ajutor social, depusă la asistentul social"),
        "where the official form is filed"
    );
    assert_eq!(page(&app, "/ro/beneficii/nu-exista/cerere").await.0, 404);

    // The result links to the application filled with the answers, for what may be due.
    let (_, result) = page(&app, &format!("/ro/estimare?{FAMILY}")).await;
    let link = "/ro/beneficii/ajutor-social/cerere?m0b=1990-03-10&amp;m0v=1000&amp;\
                m1b=1991-07-22&amp;m1v=0&amp;m2b=2015-05-01&amp;m2v=0&amp;m3b=2018-09-12&amp;m3v=0";
    assert!(result.contains(link), "{result}");
    assert!(
        !result.contains("/ro/beneficii/indemnizatie-unica-nastere/cerere?"),
        "no application for what is not due"
    );
    let (_, filled) = page(&app, &link.replace("&amp;", "&")).await;
    assert!(
        filled.contains("<td>solicitantul</td><td>1990-03-10</td><td>1000</td>"),
        "{filled}"
    );
    assert!(filled.contains("<td>2018-09-12</td><td>0</td>"));
    assert_eq!(
        filled.matches("<tr><td>").count(),
        6,
        "four filled, two blank"
    );
    assert!(
        !filled.contains("cerere/pdf"),
        "a filled sheet is never printed by the server"
    );

    // What the address carries is escaped, never markup.
    let (_, hostile) = page(&app, "/ro/beneficii/ajutor-social/cerere?m0b=%3Cscript%3Ex").await;
    assert!(hostile.contains("&lt;script&gt;x") && !hostile.contains("<script>"));
}

/// Counts on one hub, then a second hub on the same store shows them.
async fn usage_counts_survive_a_restart(store_url: String) {
    let first = spawn_app_with(SpawnOptions {
        store_url: Some(store_url.clone()),
        ..SpawnOptions::default()
    })
    .await;
    page(&first, "/ro/beneficii/ajutor-social").await;
    page(&first, "/ru/beneficii/ajutor-social").await;
    page(&first, &format!("/ro/estimare?{FAMILY}")).await;
    drop(first);

    let second = spawn_app_with(SpawnOptions {
        store_url: Some(store_url),
        ..SpawnOptions::default()
    })
    .await;
    let totals = second.store.usage_totals().await.unwrap();
    assert_eq!(totals.views_of("ajutor-social"), 2);
    assert_eq!(totals.estimates_through("pages"), 1);
    assert_eq!(totals.estimates_through("api"), 0);
    let (_, statistics) = page(&second, "/ro/statistici").await;
    assert!(
        statistics.contains("ajutor-social\">Ajutor social</a></td><td>2</td>"),
        "{statistics}"
    );
    // The new process's own metrics start again from nothing; the page does not.
    let metrics = second.get_ops("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("benefit_views_total{benefit=\"ajutor-social\"} 2"));
}

#[tokio::test]
async fn the_usage_counts_survive_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    usage_counts_survive_a_restart(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("hub.db").display()
    ))
    .await;
}

#[tokio::test]
async fn the_usage_counts_survive_a_restart_on_postgres() {
    if let Some(url) = fresh_postgres_database().await {
        usage_counts_survive_a_restart(url).await;
    }
}

/// Headless Chromium and its WebDriver (Debian's `chromium` and `chromium-driver`), when both
/// are installed; the test suite's script installs them and requires them.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let found = esocial_hub::demo::find_program("chromium")
        .zip(esocial_hub::demo::find_program("chromedriver"));
    if found.is_none() {
        assert!(
            std::env::var("ESOCIAL_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "ESOCIAL_REQUIRE_CHROMIUM=1 but chromium or chromedriver is not on PATH"
        );
        eprintln!("skipping: chromium and chromedriver (Debian chromium-driver) not on PATH");
    }
    found
}

fn screenshots_dir() -> PathBuf {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

#[tokio::test]
async fn a_person_fills_the_questionnaire_in_a_real_browser_with_the_keyboard() {
    let Some((chromium, chromedriver)) = browser_programs() else {
        return;
    };
    let app = spawn_app().await;
    let shots = screenshots_dir();
    let browser = Browser::start(&chromedriver, &chromium).await;
    let base = &app.pages_address;

    browser.goto(&format!("{base}/ro/estimare")).await;
    // Every field has its label, as a screen reader needs.
    for row in 0..6 {
        for field in ["b", "v", "s", "d"] {
            assert!(
                browser.has(&format!("label[for=\"m{row}{field}\"]")).await,
                "m{row}{field}"
            );
        }
    }
    // The keyboard reaches the skip link first, then the form in its reading order.
    assert_eq!(browser.tab().await, "skip");
    let mut focused = Vec::new();
    for _ in 0..20 {
        let id = browser.tab().await;
        if id == "data" {
            break;
        }
        focused.push(id);
    }
    assert!(
        focused.contains(&"q".to_string()),
        "the search field: {focused:?}"
    );
    let mut order = vec!["data".to_string()];
    for _ in 0..5 {
        let next = browser.tab_from(order.last().unwrap()).await;
        order.push(next);
    }
    assert_eq!(order, ["data", "m0b", "m0v", "m0s", "m0d", "m1b"]);

    // Two adults and two children, the applicant earning 1,000 lei, typed as a person would.
    browser.type_date("#data", "2025-06-30").await;
    for (row, birth, income) in [
        (0, "1990-03-10", "1000"),
        (1, "1991-07-22", "0"),
        (2, "2015-05-01", "0"),
        (3, "2018-09-12", "0"),
    ] {
        browser.type_date(&format!("#m{row}b"), birth).await;
        browser.type_into(&format!("#m{row}v"), income).await;
    }
    let filled = shots.join("estimator-form.png");
    let filled_size = browser.screenshot(&filled).await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url("trimis=1").await;
    let result = browser.source().await;
    assert!(result.contains("Probabil aveți dreptul"), "{result}");
    assert!(
        result.contains("4702 lei"),
        "the social aid of the worked example"
    );
    assert!(result.contains("nu este o decizie"));
    // The form comes back filled, to correct and send again.
    assert_eq!(browser.property("#m0v", "value").await, "1000");
    let result_shot = shots.join("estimator-result.png");
    let result_size = browser.screenshot(&result_shot).await;
    // From the result, to the application sheet filled with the same answers.
    browser
        .click("a[href^=\"/ro/beneficii/ajutor-social/cerere?\"]")
        .await;
    browser.wait_for_url("/cerere?").await;
    let application = browser.source().await;
    assert!(
        application.contains("<td>1990-03-10</td><td>1000</td>"),
        "{application}"
    );
    let application_shot = shots.join("application-filled.png");
    let application_size = browser.screenshot(&application_shot).await;

    // In Russian, a parent and a child with a severe disability in 2019, the disability chosen
    // from the list by typing and the form sent with Enter.
    browser.goto(&format!("{base}/ru/estimare")).await;
    browser.type_date("#data", "2019-06-30").await;
    browser.type_date("#m0b", "1985-01-01").await;
    browser.type_into("#m0v", "3000").await;
    browser.type_date("#m1b", "2012-05-05").await;
    browser.type_into("#m1v", "0").await;
    browser.type_into("#m1d", "тяж").await;
    assert_eq!(browser.property("#m1d", "value").await, "severe");
    browser.type_into("#m1v", ENTER).await;
    browser.wait_for_url("trimis=1").await;
    let russian = browser.source().await;
    assert!(russian.contains("647.6 леев"), "{russian}");

    browser
        .goto(&format!("{base}/ru/beneficii/ajutor-social"))
        .await;
    let sheet_shot = shots.join("sheet-ru.png");
    let sheet_size = browser.screenshot(&sheet_shot).await;
    browser.quit().await;
    for (shot, size) in [
        (filled, filled_size),
        (result_shot, result_size),
        (application_shot, application_size),
        (sheet_shot, sheet_size),
    ] {
        let bytes = std::fs::read(&shot).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && size > 10_000,
            "{}",
            shot.display()
        );
    }

    // The sheet downloads as a PDF, printed once and then kept.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let download = |path: &'static str| {
        let client = client.clone();
        let url = format!("{}{path}", app.pages_address);
        async move { client.get(url).send().await.unwrap() }
    };
    let first = download("/ro/beneficii/ajutor-social/pdf").await;
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(first.headers()["content-type"], "application/pdf");
    let started = std::time::Instant::now();
    let again = download("/ro/beneficii/ajutor-social/pdf").await;
    let (first, again) = (first.bytes().await.unwrap(), again.bytes().await.unwrap());
    assert!(first.starts_with(b"%PDF") && first.len() > 5_000);
    assert_eq!(first, again, "the second download is the kept print");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let blank = download("/ru/beneficii/ajutor-social/cerere/pdf").await;
    assert_eq!(blank.status().as_u16(), 200);
    assert!(
        blank.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("ajutor-social-cerere-ru.pdf")
    );
    let blank = blank.bytes().await.unwrap();
    assert!(blank.starts_with(b"%PDF") && blank != first);
    let metrics = app.get_ops("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("benefit_views_total{benefit=\"ajutor-social\"} 1\n"),
        "one view, the browser's: the printer's visit is none"
    );
    assert!(metrics.contains("benefit_estimates_total{channel=\"pages\"} 2\n"));
}
