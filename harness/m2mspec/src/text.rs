//! Wording shared by the messages users read (validation errors, evidence): small helpers
//! with no knowledge of protocols or SUTs.

/// "a, b or c": the choices of a validation message.
pub fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::one_of;

    #[test]
    fn one_of_lists_the_choices() {
        assert_eq!(one_of(&[]), "");
        assert_eq!(one_of(&["ae"]), "ae");
        assert_eq!(one_of(&["ae", "cse", "client"]), "ae, cse or client");
    }
}
