//! The public benefits pages: the catalog by life situation in Romanian and Russian, each info
//! sheet with its sources, a search that ignores diacritics, the questionnaire and its explained
//! result, the usage counts, and a walk through them in a real browser (headless Chromium, from
//! Debian's `chromium`), which renders each page, submits the questionnaire as its form does,
//! and leaves screenshots in `target/browser-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::{TestApp, spawn_app};

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

fn chromium() -> Option<PathBuf> {
    esocial_hub::demo::find_program("chromium")
}

/// Runs headless Chromium on `url` with `args`; its standard output.
fn browse(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_real_browser_walks_through_the_questionnaire() {
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("ESOCIAL_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "ESOCIAL_REQUIRE_CHROMIUM=1 but no chromium on PATH"
        );
        eprintln!("skipping: no chromium on PATH (Debian package `chromium`)");
        return;
    };
    let app = spawn_app().await;
    let profile = tempfile::tempdir().unwrap();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let base = app.pages_address.clone();

    // The browser blocks on the hub, which runs on this runtime: run it on a thread.
    let walk = tokio::task::spawn_blocking(move || {
        let form_url = format!("{base}/ro/estimare");
        let form = browse(&chromium, profile.path(), &["--dump-dom"], &form_url);
        // Every input has its label, as a screen reader needs.
        for row in 0..6 {
            for field in ["b", "v", "s"] {
                assert!(
                    form.contains(&format!("<label for=\"m{row}{field}\"")),
                    "m{row}{field}"
                );
            }
        }
        let shot = shots.join("estimator-form.png");
        browse(
            &chromium,
            profile.path(),
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1280,1600",
            ],
            &form_url,
        );
        // The form submits with GET to its action: the same request the browser sends on
        // "Estimează".
        let result_url = format!("{base}/ro/estimare?{FAMILY}");
        let result = browse(&chromium, profile.path(), &["--dump-dom"], &result_url);
        let result_shot = shots.join("estimator-result.png");
        browse(
            &chromium,
            profile.path(),
            &[
                &format!("--screenshot={}", result_shot.display()),
                "--window-size=1280,2400",
            ],
            &result_url,
        );
        let sheet_shot = shots.join("sheet-ru.png");
        browse(
            &chromium,
            profile.path(),
            &[
                &format!("--screenshot={}", sheet_shot.display()),
                "--window-size=1280,1800",
            ],
            &format!("{base}/ru/beneficii/ajutor-social"),
        );
        (result, [shot, result_shot, sheet_shot])
    });
    let (result, shots) = walk.await.unwrap();

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
    let metrics = app.get_ops("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("benefit_views_total{benefit=\"ajutor-social\"} 1\n"),
        "one view, the screenshot's: the printer's visit is none"
    );
    assert!(
        result.contains("Probabil aveți dreptul"),
        "the rendered result"
    );
    assert!(result.contains("4702 lei"));
    for shot in shots {
        let bytes = std::fs::read(&shot).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{}",
            shot.display()
        );
    }
}
