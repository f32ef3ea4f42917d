//! Fault switches by name. A reference client's test-only misbehaviour switches are a struct
//! of `bool` fields with serde derives; their names are the serde field names, so the list of
//! switches is written once, in the struct. These helpers list the switches that are on and
//! build the struct from names, rejecting a name the struct does not have (a misspelt switch
//! must not silently run a well-behaved client).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// A switch list that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("unknown fault {name:?}; known: {known:?}")]
    Unknown { name: String, known: Vec<String> },
    #[error("faults: {0}")]
    Invalid(String),
}

fn fields<T: Serialize>(switches: &T) -> Map<String, Value> {
    match serde_json::to_value(switches) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The names of the switches that are on, in declaration order. Fields that are not `true`
/// (off, or not a bool) are not listed; a value that is not a struct has none.
pub fn enabled<T: Serialize>(switches: &T) -> Vec<String> {
    fields(switches)
        .into_iter()
        .filter(|(_, v)| *v == Value::Bool(true))
        .map(|(k, _)| k)
        .collect()
}

/// The names of all the switches of `T`, in declaration order.
pub fn known<T: Serialize + Default>() -> Vec<String> {
    fields(&T::default()).into_iter().map(|(k, _)| k).collect()
}

/// `T` with the switches named in `names` on and the others at their defaults.
pub fn from_names<T, I, S>(names: I) -> Result<T, FaultError>
where
    T: Serialize + DeserializeOwned + Default,
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    from_switches(names.into_iter().map(|n| (n, true)))
}

/// `T` with each named switch set as given (a later setting of a name wins) and the others at
/// their defaults.
pub fn from_switches<T, I, S>(switches: I) -> Result<T, FaultError>
where
    T: Serialize + DeserializeOwned + Default,
    I: IntoIterator<Item = (S, bool)>,
    S: AsRef<str>,
{
    let known = known::<T>();
    let mut map = Map::new();
    for (name, on) in switches {
        let name = name.as_ref();
        if !known.iter().any(|k| k == name) {
            return Err(FaultError::Unknown {
                name: name.to_string(),
                known,
            });
        }
        map.insert(name.to_string(), Value::Bool(on));
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| FaultError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Switches {
        zeta: bool,
        alpha: bool,
        mid: bool,
    }

    #[test]
    fn names_come_from_serde_in_declaration_order() {
        assert_eq!(known::<Switches>(), ["zeta", "alpha", "mid"]);
        assert!(enabled(&Switches::default()).is_empty());
        let s = Switches {
            zeta: true,
            mid: true,
            ..Switches::default()
        };
        assert_eq!(enabled(&s), ["zeta", "mid"]);
        assert!(enabled(&42).is_empty());
    }

    #[test]
    fn switches_are_built_from_names() {
        let s: Switches = from_names(["mid", "alpha"]).unwrap();
        assert_eq!(
            s,
            Switches {
                alpha: true,
                mid: true,
                ..Switches::default()
            }
        );
        let s: Switches = from_switches([("mid", true), ("mid", false), ("zeta", true)]).unwrap();
        assert_eq!(enabled(&s), ["zeta"]);
        let none: Switches = from_names(Vec::<String>::new()).unwrap();
        assert_eq!(none, Switches::default());
    }

    #[test]
    fn an_unknown_name_is_a_typed_error_naming_it_and_the_known_ones() {
        let e = from_names::<Switches, _, _>(["alpha", "alfa"]).unwrap_err();
        assert_eq!(
            e,
            FaultError::Unknown {
                name: "alfa".into(),
                known: vec!["zeta".into(), "alpha".into(), "mid".into()],
            }
        );
        assert_eq!(
            e.to_string(),
            r#"unknown fault "alfa"; known: ["zeta", "alpha", "mid"]"#
        );
    }

    #[test]
    fn a_struct_that_is_not_all_bools_is_an_invalid_error() {
        #[derive(Debug, Default, Serialize, Deserialize)]
        struct Mixed {
            level: u8,
        }
        assert!(matches!(
            from_names::<Mixed, _, _>(["level"]),
            Err(FaultError::Invalid(_))
        ));
    }
}
