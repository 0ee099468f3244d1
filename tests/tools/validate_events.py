#!/usr/bin/python3
"""Validate Vigil JSON-lines output against docs/event.schema.json.

usage: /usr/bin/python3 tests/tools/validate_events.py [--allow-empty] SCHEMA FILE.jsonl...

Every line must be strict UTF-8, one JSON object (no NaN/Infinity), and valid
against the schema. Prints "N events valid" and exits 0, or prints the first
10 problems as FILE:LINE: where: what and exits 1. A file without any event
is an error unless --allow-empty is given, so that a test whose agent wrote
nothing cannot pass by accident.

Runs under Debian's /usr/bin/python3 with python3-jsonschema (4.10+).
"""
import json
import sys

try:
    import jsonschema
    from jsonschema.exceptions import best_match
except ImportError:
    sys.stderr.write("validate_events: python3-jsonschema is not installed "
                     "(apt-get install python3-jsonschema; run with /usr/bin/python3)\n")
    sys.exit(2)

MAX_ERRORS = 10


def reject_constant(name):
    raise ValueError("non-standard JSON constant " + name)


def where(err):
    path = "/".join(str(p) for p in err.absolute_path)
    return "/" + path


def main(argv):
    allow_empty = False
    args = argv[1:]
    if args and args[0] == "--allow-empty":
        allow_empty = True
        args = args[1:]
    if len(args) < 2:
        sys.stderr.write(__doc__)
        return 2
    schema_path, files = args[0], args[1:]
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        sys.stderr.write("validate_events: %s: bad schema: %s\n" % (schema_path, e))
        return 2
    validator = cls(schema)  # no format_checker: formats are not asserted

    errors = []
    valid = 0
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            errors.append("%s: %s" % (path, e.strerror))
            continue
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif data:
            errors.append("%s:%d: last line does not end in a newline" % (path, len(lines)))
        count = 0
        for lineno, raw in enumerate(lines, 1):
            def err(msg):
                errors.append("%s:%d: %s" % (path, lineno, msg))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                err("invalid UTF-8 at byte %d" % e.start)
                continue
            if not text.strip():
                err("empty line")
                continue
            try:
                event = json.loads(text, parse_constant=reject_constant)
            except ValueError as e:
                err("not JSON: %s" % e)
                continue
            count += 1
            found = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
            if not found:
                valid += 1
                continue
            e = best_match(found)
            err("%s: %s" % (where(e), e.message))
        if count == 0 and not allow_empty:
            errors.append("%s: no events" % path)

    if errors:
        for e in errors[:MAX_ERRORS]:
            print(e)
        if len(errors) > MAX_ERRORS:
            print("... and %d more" % (len(errors) - MAX_ERRORS))
        return 1
    print("%d events valid" % valid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
