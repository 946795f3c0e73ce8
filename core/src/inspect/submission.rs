//! What the engine hands the data center: upload groups, each file with its bytes when the
//! extraction kept them.

use crate::digest::Md5;

/// One upload group: files the data center gets at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Distinct files, in message order.
    pub files: Vec<SubmittedFile>,
}

/// One file of an upload group.
#[derive(Clone, PartialEq, Eq)]
pub struct SubmittedFile {
    /// Its identity.
    pub md5: Md5,
    /// The name of the first file of the message that has these bytes.
    pub name: String,
    /// Its bytes, when the extraction kept them (a data center that reads content needs
    /// them; one that judges by MD5 does not). Handed over here, so the machine keeps no
    /// copy once the file is submitted.
    pub bytes: Option<Vec<u8>>,
}

impl std::fmt::Debug for SubmittedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmittedFile")
            .field("md5", &self.md5)
            .field("name", &self.name)
            .field("bytes", &self.bytes.as_ref().map(Vec::len))
            .finish()
    }
}
