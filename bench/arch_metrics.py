#!/usr/bin/env python3
"""Architecture figures for issue 12: the longest function per component, SQL literals and
by-name row reads in functions/ and shared/platform/. Reads the sources as text (rustfmt layout:
a function ends at the first `}` line with the indentation of its `fn` line)."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FN = re.compile(r"^(\s*)(pub(\([a-z]+\))? )?(async )?fn (\w+)")
SQL = re.compile(r'"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|BEGIN|COMMIT)\b', re.I)
ROW_READ = re.compile(r'\.get(::<[^>]*>)?\("[a-z_]+"\)|row\.get\("')


def functions(path):
    lines = path.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        indent = m.group(1)
        for j in range(i + 1, len(lines)):
            if lines[j] == indent + "}":
                out.append((m.group(5), j - i + 1))
                break
    return out


def main():
    total_sql = {"functions": 0, "shared/platform": 0}
    row_reads = 0
    over = 0
    count = 0
    print(f"{'component':<18} longest function")
    for comp in sorted((ROOT / "functions").iterdir()):
        best = ("-", 0)
        for f in comp.glob("src/**/*.rs"):
            text = f.read_text()
            total_sql["functions"] += len(SQL.findall(text))
            row_reads += len(ROW_READ.findall(text))
            for name, n in functions(f):
                count += 1
                over += n > 40
                if n > best[1]:
                    best = (f"{name} ({f.name})", n)
        print(f"{comp.name:<18} {best[1]:>4}  {best[0]}")
    for f in (ROOT / "shared/platform").glob("src/**/*.rs"):
        total_sql["shared/platform"] += len(SQL.findall(f.read_text()))
    print(f"functions over 40 lines in functions/: {over} of {count}")
    print(f"SQL literals: functions/ {total_sql['functions']}, shared/platform/ {total_sql['shared/platform']}")
    print(f"by-name row reads in functions/: {row_reads}")


if __name__ == "__main__":
    sys.exit(main())
