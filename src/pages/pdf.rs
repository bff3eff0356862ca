//! PDF downloads of the info sheets: the sheet's own print layout, printed by a headless
//! Chromium (`benefits.pdf_browser`) from the pages' own address on the loopback, once per
//! sheet and language and then kept in memory, one print at a time, so that a burst of
//! downloads costs one browser run per sheet, not one per request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

/// The query parameter of the printer's own visit to a sheet, which counts as no view.
pub const PRINTING: &str = "tipar";

/// Longest a print may take.
const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

/// Printed sheets by (language, benefit id).
type Printed = HashMap<(String, String), Arc<Vec<u8>>>;

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
    #[error("the browser did not print the sheet in time")]
    Timeout,
    #[error("the browser failed to print the sheet")]
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

    /// The PDF of the sheet at `/{lang}/beneficii/{id}`, printed now or earlier.
    pub async fn sheet(&self, lang: &str, id: &str) -> Result<Arc<Vec<u8>>, PdfError> {
        let mut printed = self.printed.lock().await;
        let key = (lang.to_string(), id.to_string());
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
            .arg(format!("{}/{lang}/beneficii/{id}?{PRINTING}=1", self.base))
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
