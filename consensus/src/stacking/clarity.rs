//! The part of Clarity's consensus serialization that SIP-018 messages need: `uint`, `buff`,
//! `string-ascii` and tuples (keys sorted, as Clarity stores them).

/// A Clarity value of the kinds SIP-018 signer-key messages use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    UInt(u128),
    Buffer(Vec<u8>),
    StringAscii(String),
    /// Entries in any order; serialization sorts them by name.
    Tuple(Vec<(String, Value)>),
}

impl Value {
    /// Consensus serialization: `01 || u128 BE`, `02 || len u32 || bytes`,
    /// `0d || len u32 || ascii`, `0c || count u32 || (name len u8 || name || value)*` with names
    /// in lexicographic order.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::UInt(v) => {
                out.push(0x01);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Value::Buffer(b) => {
                out.push(0x02);
                out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                out.extend_from_slice(b);
            }
            Value::StringAscii(s) => {
                out.push(0x0d);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Tuple(entries) => {
                let mut sorted: Vec<&(String, Value)> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(0x0c);
                out.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
                for (name, v) in sorted {
                    out.push(name.len() as u8);
                    out.extend_from_slice(name.as_bytes());
                    v.write(out);
                }
            }
        }
    }
}

/// A tuple from `(name, value)` pairs.
pub fn tuple(entries: Vec<(&str, Value)>) -> Value {
    Value::Tuple(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}
