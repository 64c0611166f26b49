/**
 * Man pages (roff, man(7)) and shell completions (bash, zsh, fish) generated from the
 * commander definition of the CLI, so they list exactly the subcommands and options
 * `--help` shows. Hidden options (internal flags) are left out.
 * @module
 */
import type { Command, Option } from "commander";

/** One subcommand as the generators see it. */
interface Sub {
  name: string;
  description: string;
  usage: string;
  options: Option[];
  subs: Sub[];
}

function visible(cmd: Command): Option[] {
  return cmd.options.filter((o) => !(o as Option & { hidden?: boolean }).hidden);
}

function walk(cmd: Command): Sub {
  return {
    name: cmd.name(),
    description: cmd.description(),
    usage: cmd.usage(),
    options: visible(cmd),
    subs: cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map(walk),
  };
}

/**
 * Escapes text for roff: backslashes, hyphens, characters beyond ASCII (as `\[uXXXX]`, which
 * groff reads in any locale), and a leading dot or quote.
 */
function roff(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-")
    .replace(
      /[\u{80}-\u{10FFFF}]/gu,
      (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`,
    )
    .split("\n")
    .map((l) => /^[.']/.test(l) ? `\\&${l}` : l).join("\n");
}

function optionsSection(options: Option[]): string {
  if (options.length === 0) return "";
  let out = ".SH OPTIONS\n";
  for (const o of options) out += `.TP\n.B ${roff(o.flags)}\n${roff(o.description || "")}\n`;
  return out;
}

/** The man pages: `siglatch.1` and one `siglatch-<sub>.1` per subcommand (name → text). */
export function manPages(program: Command, version: string, date: string): Map<string, string> {
  const root = walk(program);
  const pages = new Map<string, string>();
  const head = (name: string, desc: string) =>
    `.TH ${name.toUpperCase()} 1 "${date}" "siglatch ${version}" "siglatch manual"\n` +
    `.SH NAME\n${roff(name)} \\- ${roff(desc.split("\n")[0])}\n`;
  let main = head("siglatch", root.description) +
    `.SH SYNOPSIS\n.B siglatch\n${roff(root.usage)}\n.SH DESCRIPTION\n${roff(root.description)}\n` +
    optionsSection(root.options) + ".SH COMMANDS\n";
  for (const s of root.subs) {
    main += `.TP\n.B ${roff(s.name)}\n${roff(s.description.split("\n")[0])} (see\n.BR siglatch\\-${
      roff(s.name)
    } (1))\n`;
  }
  main += ".SH SEE ALSO\n" +
    root.subs.map((s) => `.BR siglatch\\-${roff(s.name)} (1)`).join(",\n") + "\n";
  pages.set("siglatch.1", main);
  for (const s of root.subs) {
    let page = head(`siglatch-${s.name}`, s.description) +
      `.SH SYNOPSIS\n.B siglatch ${roff(s.name)}\n${roff(s.usage)}\n` +
      `.SH DESCRIPTION\n${roff(s.description)}\n` + optionsSection(s.options);
    if (s.subs.length) {
      page += ".SH COMMANDS\n";
      for (const c of s.subs) {
        page += `.TP\n.B ${roff(`${c.name} ${c.usage}`)}\n${roff(c.description)}\n`;
      }
    }
    page += `.SH SEE ALSO\n.BR siglatch (1)\n`;
    pages.set(`siglatch-${s.name}.1`, page);
  }
  return pages;
}

function longs(options: Option[]): string[] {
  return options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
}

/** The bash completion script. */
export function bashCompletion(program: Command): string {
  const root = walk(program);
  const cases = root.subs.map((s) =>
    `    ${s.name}) words="${
      [...s.subs.map((c) => c.name), ...longs(s.options), "--help"].join(" ")
    }" ;;`
  ).join("\n");
  return `# bash completion for siglatch (generated from the CLI definition)
_siglatch() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" sub="" words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) sub="\${COMP_WORDS[i]}"; break ;; esac
  done
  case "$sub" in
    "") words="${[...root.subs.map((s) => s.name), ...longs(root.options), "--help"].join(" ")}" ;;
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [[ \${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _siglatch siglatch
`;
}

function zshQuote(text: string): string {
  return text.split("\n")[0].replace(/[\\'[\]:]/g, (c) => c === "'" ? "'\\''" : `\\${c}`);
}

/** The zsh completion script (`_siglatch`). */
export function zshCompletion(program: Command): string {
  const root = walk(program);
  const subFns = root.subs.map((s) => {
    const opts = s.options.map((o) =>
      `    '${o.long ?? o.short}[${zshQuote(o.description || "")}]${
        o.required || o.optional ? ":value:_files" : ""
      }'`
    );
    const cmds = s.subs.map((c) => `'${c.name}:${zshQuote(c.description)}'`);
    return `_siglatch_${s.name.replace(/-/g, "_")}() {\n  _arguments -s \\\n${
      [
        ...opts,
        "    '--help[show help]'",
        `    '*::arg:${cmds.length ? `(( ${cmds.join(" ")} ))` : "_files"}'`,
      ]
        .join(" \\\n")
    }\n}`;
  }).join("\n");
  const list = root.subs.map((s) => `    '${s.name}:${zshQuote(s.description)}'`).join("\n");
  return `#compdef siglatch
# zsh completion for siglatch (generated from the CLI definition)
${subFns}
_siglatch() {
  local -a commands
  commands=(
${list}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
  else
    local fn="_siglatch_\${words[2]//-/_}"
    (( $+functions[$fn] )) && { shift words; (( CURRENT-- )); $fn; }
  fi
}
_siglatch "$@"
`;
}

function fishQuote(text: string): string {
  return `'${text.split("\n")[0].replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The fish completion script. */
export function fishCompletion(program: Command): string {
  const root = walk(program);
  const lines = [
    "# fish completion for siglatch (generated from the CLI definition)",
    "complete -c siglatch -f",
  ];
  const names = root.subs.map((s) => s.name).join(" ");
  for (const s of root.subs) {
    lines.push(
      `complete -c siglatch -n "not __fish_seen_subcommand_from ${names}" -a ${s.name} -d ${
        fishQuote(s.description)
      }`,
    );
    for (const c of s.subs) {
      lines.push(
        `complete -c siglatch -n "__fish_seen_subcommand_from ${s.name}" -a ${c.name} -d ${
          fishQuote(c.description)
        }`,
      );
    }
    for (const o of s.options) {
      const parts = [`complete -c siglatch -n "__fish_seen_subcommand_from ${s.name}"`];
      if (o.long) parts.push(`-l ${o.long.replace(/^--/, "")}`);
      if (o.short) parts.push(`-s ${o.short.replace(/^-/, "")}`);
      if (o.required || o.optional) parts.push("-r -F");
      parts.push(`-d ${fishQuote(o.description || "")}`);
      lines.push(parts.join(" "));
    }
  }
  return lines.join("\n") + "\n";
}
