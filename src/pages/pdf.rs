//! PDF downloads of the info sheets and the blank application sheets: the page's own print
//! layout, printed by a headless Chromium (`benefits.pdf_browser`) from the pages' own address
//! on the loopback, once per page and language and then kept in memory, one print at a time, so
//! that a burst of downloads costs one browser run per page, not one per request. A page filled
//! with someone's answers is never printed here: the browser prints it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

/// The query parameter of the printer's own visit to a sheet, which counts as no view.
pub const PRINTING: &str = "tipar";

/// Longest a print may take.
const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which of a benefit's pages is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    /// The info sheet, `/{lang}/beneficii/{id}`.
    Sheet,
    /// The blank application sheet, `/{lang}/beneficii/{id}/cerere`.
    Application,
}

impl Document {
    pub fn path(self, lang: &str, id: &str) -> String {
        match self {
            Document::Sheet => format!("/{lang}/beneficii/{id}"),
            Document::Application => format!("/{lang}/beneficii/{id}/cerere"),
        }
    }

    /// What the downloaded file's name carries before its language.
    pub fn file_suffix(self) -> &'static str {
        match self {
            Document::Sheet => "",
            Document::Application => "cerere-",
        }
    }
}

/// Printed pages by (language, benefit id, document).
type Printed = HashMap<(String, String, Document), Arc<Vec<u8>>>;

pub struct PdfPrinter {
    browser: PathBuf,
    /// The pages' own address, `http://127.0.0.1:<port>`.
    base: String,
    /// The lock also makes prints one at a time.
    printed: Mutex<Printed>,
}

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the browser could not be started: {0}")]
    Start(std::io::Error),
    #[error("the browser did not print the page in time")]
    Timeout,
    #[error("the browser failed to print the page")]
    Failed,
}

/// Whether this process runs as root, where Chromium refuses its sandbox.
fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

impl PdfPrinter {
    pub fn new(browser: PathBuf, base: String) -> Self {
        Self {
            browser,
            base,
            printed: Mutex::new(HashMap::new()),
        }
    }

    /// The PDF of a benefit's `document` in `lang`, printed now or earlier.
    pub async fn print(
        &self,
        lang: &str,
        id: &str,
        document: Document,
    ) -> Result<Arc<Vec<u8>>, PdfError> {
        let mut printed = self.printed.lock().await;
        let key = (lang.to_string(), id.to_string(), document);
        if let Some(pdf) = printed.get(&key) {
            return Ok(pdf.clone());
        }
        let work = tempfile::tempdir().map_err(PdfError::Start)?;
        let target = work.path().join("sheet.pdf");
        let mut command = tokio::process::Command::new(&self.browser);
        command
            .args([
                "--headless",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
            ])
            .arg("--no-pdf-header-footer")
            .arg(format!(
                "--user-data-dir={}",
                work.path().join("profile").display()
            ))
            .arg(format!("--print-to-pdf={}", target.display()))
            .arg(format!(
                "{}{}?{PRINTING}=1",
                self.base,
                document.path(lang, id)
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if as_root() {
            command.arg("--no-sandbox");
        }
        let status = tokio::time::timeout(PRINT_TIMEOUT, command.status())
            .await
            .map_err(|_| PdfError::Timeout)?
            .map_err(PdfError::Start)?;
        let pdf = std::fs::read(&target).map_err(|_| PdfError::Failed)?;
        if !status.success() || !pdf.starts_with(b"%PDF") {
            return Err(PdfError::Failed);
        }
        let pdf = Arc::new(pdf);
        printed.insert(key, pdf.clone());
        Ok(pdf)
    }
}
