//! What the simulator knows of a policy package: field names and types, planes, rings and gates.
//!
//! In: built by the caller (the CLI, from the compiler's output), so that the simulator depends only on
//! the runtime and the agent, as DESIGN.md draws it. Out: the vocabulary the fleet and release files are
//! checked against, and the device-record layout of docs/bytecode.md (device fields, plane versions,
//! `now.hour`, `now.weekday`, release targets).

/// The type of a device field as the fleet model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int,
    Float,
    /// A `float` in [0, 1], written `percent` in the schema.
    Percent,
    /// Whole seconds.
    Duration,
    Version,
    /// An enum and its variants in order.
    Enum(String, Vec<String>),
}

impl FieldType {
    pub fn name(&self) -> String {
        match self {
            FieldType::Bool => "bool".into(),
            FieldType::Int => "int".into(),
            FieldType::Float => "float".into(),
            FieldType::Percent => "percent".into(),
            FieldType::Duration => "duration".into(),
            FieldType::Version => "version".into(),
            FieldType::Enum(name, _) => name.clone(),
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Float | FieldType::Percent | FieldType::Duration
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSchema {
    pub name: String,
    pub ty: FieldType,
    pub optional: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    /// Device fields in record order (plane versions are not fields here).
    pub fields: Vec<FieldSchema>,
    pub planes: Vec<String>,
    pub rings: Vec<String>,
    /// Gates as `from -> to`, in ring order.
    pub gates: Vec<String>,
    /// Device fields that `per` clauses split rings by: they must not be dynamic.
    pub per_fields: Vec<usize>,
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn plane(&self, name: &str) -> Option<usize> {
        self.planes.iter().position(|p| p == name)
    }

    /// Slots of the device record.
    pub fn record_len(&self) -> usize {
        self.fields.len() + 2 * self.planes.len() + 2
    }

    pub fn plane_slot(&self, plane: usize) -> usize {
        self.fields.len() + plane
    }

    pub fn now_hour_slot(&self) -> usize {
        self.fields.len() + self.planes.len()
    }

    pub fn now_weekday_slot(&self) -> usize {
        self.now_hour_slot() + 1
    }

    pub fn release_slot(&self, plane: usize) -> usize {
        self.fields.len() + self.planes.len() + 2 + plane
    }

    /// Names a fleet model may give a distribution for: the device fields and the planes.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .chain(self.planes.iter().map(String::as_str))
            .collect()
    }
}
