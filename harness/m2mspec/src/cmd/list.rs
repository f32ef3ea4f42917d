//! `m2mspec list`: the case catalogue (the selected cases), as a table or JSON, with each
//! case's basis (stated, or derived: an interpretation of the text).

use super::selection::CaseArgs;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    cases: CaseArgs,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    format: String,
}

pub fn execute(Args { cases, format }: Args) -> anyhow::Result<ExitCode> {
    let cases = cases.cases()?;
    if format == "json" {
        let rows: Vec<_> = cases
            .iter()
            .map(|c| serde_json::json!({"id": c.id, "title": c.title, "clause": c.clause, "spec": c.spec.as_str(), "level": c.level, "role": c.role, "requirement": c.requirement, "basis": c.basis, "reasoning": c.reasoning, "requires": c.requires}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<44} {:<22} {:<6} {:<6} {:<5} {:<8} REQUIREMENT",
            "ID", "CLAUSE", "LEVEL", "SPEC", "ROLE", "BASIS"
        );
        for c in &cases {
            let req: String = c.requirement.chars().take(90).collect();
            println!(
                "{:<44} {:<22} {:<6} {:<6} {:<5} {:<8} {req}",
                c.id,
                c.clause.join("; "),
                c.level.as_str(),
                c.spec.as_str(),
                c.role,
                c.basis.as_str()
            );
        }
        println!("{} cases", cases.len());
    }
    Ok(ExitCode::SUCCESS)
}
