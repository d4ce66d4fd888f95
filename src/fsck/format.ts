/** The human-readable fsck report: one line per finding, then a summary line. */
import { problemsOf, type ConsistencyReport, type Finding } from "./consistency.js";

/** Formats `report`; `repairRan` tells whether the findings' `repair` fields were filled in. */
export function formatReport(report: ConsistencyReport, repairRan: boolean): string {
  const { files, sessions, blobs, partials, bytesHashed } = report.checked;
  const lines = [
    `checked ${count(files, "file")} (${mebibytes(bytesHashed)} hashed), ${count(sessions, "upload session")}, ${count(blobs, "blob")}, ${count(partials, "partial content")}`,
  ];
  for (const f of report.findings)
    lines.push(`${f.severity.padEnd(8)} ${f.kind.padEnd(15)} ${f.detail}  [${outcome(f, repairRan)}]`);
  if (report.busySessions > 0) lines.push(`${count(report.busySessions, "upload session")} being written, not checked`);
  const problems = problemsOf(report);
  const notes = report.findings.length - problems.length;
  if (problems.length === 0) {
    lines.push(`clean${notes > 0 ? ` (${count(notes, "note")})` : ""}`);
  } else {
    const repaired = problems.filter((f) => f.repair === "removed").length;
    const operator = problems.filter((f) => !f.repairable).length;
    const parts = [
      repairRan ? `${repaired} repaired` : `${problems.length - operator} repairable with --repair`,
      `${operator} for an operator`,
    ];
    lines.push(
      `${count(problems.length, "problem")} (${parts.join(", ")})${notes > 0 ? `, ${count(notes, "note")}` : ""}`,
    );
  }
  return lines.join("\n");
}

function outcome(f: Finding, repairRan: boolean): string {
  if (!f.repairable) return "needs an operator";
  if (repairRan) return f.repair ?? "not repaired";
  return f.kind === "long-partial" ? "--repair cuts it off" : "--repair removes it";
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
