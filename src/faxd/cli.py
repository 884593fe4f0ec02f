"""The command line. `main(argv) -> exit code` is the only place that turns errors
into exit codes: 0 success, 1 failure, 2 usage or configuration error."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

from faxd import __version__, config
from faxd.core.printable import shown_lines
from faxd.errors import (
    AlreadyRunningError,
    ConfigError,
    FaxdError,
    HeldByCommandError,
    UsageError,
)
from faxd.host import logs
from faxd.settings import Settings


class Exit(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # main() puts "faxd: " in front; a subcommand's own name stays, so the admin
        # knows which command's usage to read.
        where = self.prog.removeprefix("faxd").strip()
        prefix = f"{where}: " if where else ""
        hint = f"Run 'faxd {where} --help' for usage." if where else "Run 'faxd --help' for usage."
        raise UsageError(f"{prefix}{message}.", hint)


def _port(text: str) -> int:
    """A TCP port for argparse (0: any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--config", help="configuration file (default: $FAXD_CONFIG or /etc/faxd/faxd.yaml)"
    )
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser = _Parser(prog="faxd", description="The office fax machine, replaced by a folder.")
    parser.add_argument("--version", action="version", version=f"faxd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("run", parents=[common], help="run the daemon in the foreground")
    check = sub.add_parser(
        "check-config", parents=[common], help="validate and print the configuration"
    )
    check.add_argument(
        "--service-user",
        metavar="NAME",
        help="when run as root, also check the folders and files for this user (default: "
        f"the User= of the unit it reads, see --unit, else {config.SERVICE_USER})",
    )
    check.add_argument(
        "--unit",
        type=Path,
        metavar="FILE",
        help="check that faxd may write its folders under this systemd unit file's "
        "ReadWritePaths= (default: the installed faxd.service, as systemctl cat shows it, "
        "when it runs this configuration)",
    )
    send = sub.add_parser("send", parents=[common], help="send files now, through the same engine")
    # FILE may come before or after --to (the usage line shows it after): values of --to
    # that name an existing file are taken as files again, see _split_send_args.
    send.add_argument("files", nargs="*", type=Path, metavar="FILE")
    send.add_argument("--to", nargs="+", required=True, metavar="NUMBER")
    send.add_argument("--from", dest="sender", metavar="NUMBER")
    send.add_argument(
        "--no-dft", action="store_true", help="always fax, never Direct File Transfer"
    )
    send.add_argument("--provider", help="a provider name from the configuration")
    send.add_argument("--reference", help="free text kept in the report")
    send.add_argument("--wait", action="store_true", help="follow it to its final status")
    sub.add_parser("status", parents=[common], help="queued, in flight and recently finished")
    test_channel = sub.add_parser(
        "test-channel", parents=[common], help="send a test message through a channel"
    )
    test_channel.add_argument("name", metavar="NAME")
    test_channel.add_argument("target", nargs="?", metavar="TARGET")
    cancel = sub.add_parser(
        "cancel", parents=[common], help="stop a queued job before its upload leaves"
    )
    cancel.add_argument("job", metavar="JOB")
    retry = sub.add_parser("retry", parents=[common], help="send a failed document again")
    retry.add_argument("target", metavar="PATH|ID")
    release = sub.add_parser("release", parents=[common], help="send a held document as addressed")
    release.add_argument("target", metavar="PATH|ID")
    accept = sub.add_parser(
        "accept-inbox",
        parents=[common],
        help="deliver into an inbox folder moved onto another disk on purpose",
    )
    accept.add_argument("folder", nargs="?", type=Path, metavar="FOLDER")
    explain = sub.add_parser("explain", parents=[common], help="how a file would be sent")
    explain.add_argument("file", type=Path, metavar="FILE")
    explain.add_argument(
        "--folder",
        type=Path,
        metavar="PATH",
        help="explain FILE as if dropped into this spool folder or recipient subfolder",
    )
    explain.add_argument(
        "--sidecar", type=Path, metavar="YAML", help="with a copy of this sidecar beside it"
    )
    sandbox = sub.add_parser(
        "sandbox", parents=[common], help="local emulator of both provider APIs"
    )
    sandbox.add_argument(
        "--port", type=_port, default=8025, help="both APIs on 127.0.0.1 (default: 8025)"
    )
    sandbox.add_argument("--scenario", type=Path)
    sandbox.add_argument(
        "--smtp-port", type=_port, default=8026, help="SMTP sink for notices (0: none)"
    )
    sandbox.add_argument(
        "--mail-dir", type=Path, default=Path("sandbox-mail"), help="where the sink stores mails"
    )
    _records_parsers(sub, common)
    return parser


def _records_parsers(sub: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    journal = sub.add_parser("journal", parents=[common], help="write a day's activity journal")
    journal.add_argument("--day", metavar="DATE", help="YYYY-MM-DD (default: yesterday)")
    purge = sub.add_parser("purge", parents=[common], help="remove what retention lets go")
    purge.add_argument("--dry-run", action="store_true", help="only list what would go")
    audit = sub.add_parser("audit", parents=[common], help="check the audit log's hash chain")
    audit.add_argument("action", choices=["verify"])
    history = sub.add_parser(
        "history", parents=[common], help="transmissions of a number or a document"
    )
    history.add_argument("target", metavar="NUMBER|DOCUMENT")
    history.add_argument("--since", metavar="DATE", help="YYYY-MM-DD")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = _parser().parse_args(args_list)
        if args.command == "send":
            _split_send_args(args)
        if args.command in ("run", "sandbox"):
            return int(_dispatch(args, env))
        with _printable_stdout():
            return int(_dispatch(args, env))
    except BrokenPipeError:
        # `faxd status | head -1`: the reader has what it wanted; a closed pipe is a
        # normal end, and nothing more may be written to it.
        _silence_stdout()
        return Exit.OK
    except ConfigError as exc:
        print(f"faxd: {shown_lines(exc.message)}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {shown_lines(str(problem))}", file=sys.stderr)
        return Exit.FAILURE if exc.passing else Exit.USAGE
    except HeldByCommandError as exc:
        # Not 2: systemd does not restart a faxd that exits 2, and this one need only wait.
        print(f"faxd: {shown_lines(str(exc))}", file=sys.stderr)
        return Exit.FAILURE
    except (UsageError, AlreadyRunningError) as exc:
        print(f"faxd: {shown_lines(str(exc))}", file=sys.stderr)
        return Exit.USAGE
    except FaxdError as exc:
        print(f"faxd: {shown_lines(str(exc))}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return Exit.FAILURE
    except KeyboardInterrupt:
        return Exit.FAILURE
    except Exception as exc:
        if debug:
            traceback.print_exc()
        said = logs.redact(str(exc)).rstrip()
        text = (
            f"internal error ({type(exc).__name__}): {said}"
            f"{'' if said.endswith(('.', '!', '?')) else '.'} "
            "Run again with --debug for details, and please report it."
        )
        if logs.machine_output():
            # `faxd run` under systemd or into a file: one more JSON line, like the others.
            structlog.get_logger("faxd.cli").critical(text)
        else:
            print(f"faxd: {text}", file=sys.stderr)
        return Exit.FAILURE


class _PrintableStdout:
    """sys.stdout while a one-shot command runs. Document names come from office users and
    answers from providers: a name holding an escape sequence must not drive the admin's
    terminal, nor one with bytes that are not UTF-8 end `faxd status` in an encoding
    error, whichever line prints it."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(shown_lines(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def _printable_stdout() -> Iterator[None]:
    inner = sys.stdout
    sys.stdout = cast(TextIO, _PrintableStdout(inner))
    try:
        yield
    finally:
        sys.stdout = inner


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _split_send_args(args: argparse.Namespace) -> None:
    numbers: list[str] = []
    files: list[Path] = list(args.files)
    for value in args.to:
        if Path(value).is_file():
            files.append(Path(value))
        else:
            numbers.append(value)
    if not files:
        raise UsageError("send: name at least one FILE to send.", "faxd send FILE… --to NUMBER…")
    if not numbers:
        raise UsageError(
            "send: name at least one recipient after --to.", "faxd send FILE… --to NUMBER…"
        )
    args.files, args.to = files, numbers


def _dispatch(args: argparse.Namespace, env: dict[str, str]) -> int:
    command: str = args.command
    if command == "sandbox":
        from faxd.sandbox.server import serve_forever

        try:
            serve_forever(args.port, args.scenario, args.smtp_port, args.mail_dir)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise FaxdError(
                f"the sandbox cannot listen on port {args.port}: {exc.strerror}.",
                "Choose another port with --port.",
            ) from None
        return Exit.OK
    path = config.config_path(args.config, env)
    level = "debug" if args.debug else None
    if command == "run":
        from faxd.host.malloc_arenas import limit_arenas
        from faxd.service.daemon import Daemon

        limit_arenas(env)  # before any thread starts
        # At info until the configuration is read; the daemon then takes its log_level.
        logs.configure(level or "info", environ=env)
        return Daemon(path, env, log_level=level).run()
    if command == "check-config":
        return _check_config(path, env, args.service_user, args.unit)
    settings = config.load(path, env)
    logs.configure(level or "warning", environ=env, stream=sys.stderr)
    if command == "status":
        from faxd.service.status_view import status

        return status(settings)
    if command == "test-channel":
        from faxd.service.channel_commands import test_channel

        return test_channel(settings, args.name, args.target)
    if command == "explain":
        from faxd.service.explain import explain

        return explain(settings, args.file, args.folder, args.sidecar)
    if command == "retry":
        from faxd.service.retry import retry

        return retry(settings, args.target)
    if command == "cancel":
        from faxd.service.cancel import cancel

        return cancel(settings, args.job)
    if command == "release":
        from faxd.service.release import release

        return release(settings, args.target)
    if command == "accept-inbox":
        from faxd.service.accept_inbox import accept_inbox

        return accept_inbox(settings, args.folder)
    if command == "send":
        # SIGTERM while waiting is an interruption like Ctrl-C: say what becomes of the job.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return _send(settings, args)
        finally:
            signal.signal(signal.SIGTERM, previous)
    if command in ("journal", "purge", "audit", "history"):
        from faxd.service import records_commands

        return records_commands.dispatch(settings, args)
    raise UsageError(f"unknown command {command!r}.")


def _send(settings: Settings, args: argparse.Namespace) -> int:
    from faxd.service.send import send

    return send(
        settings,
        files=args.files,
        to=args.to,
        sender=args.sender,
        dft=not args.no_dft,
        provider=args.provider,
        reference=args.reference,
        wait=args.wait,
    )


def _check_config(
    path: Path, env: dict[str, str], given_user: str | None, unit_file: Path | None
) -> int:
    """Exit 1 when it finds problems (SPEC §4): it did its job, and a script tells "the file
    is wrong" from "check-config was called wrong" (2, as for every usage error)."""
    try:
        sandbox = config.unit_sandbox(unit_file, path)
    except OSError as exc:
        raise UsageError(
            f"check-config: the unit file {unit_file} cannot be read ({exc.strerror}).",
            "Name the unit file faxd runs under with --unit, or leave it out.",
        ) from None
    try:
        settings = config.load(path, env)
    except ConfigError as exc:
        _say_problems(path, [str(p) for p in exc.problems])
        return Exit.FAILURE
    service_user, differs = config.chosen_user(given_user, sandbox)
    as_service = config.check_service_user(settings, service_user, env, sandbox)
    problems = config.check_environment(settings) + config.check_programs(settings)
    problems += as_service.problems
    if sandbox is not None:
        problems += config.check_unit_paths(settings, sandbox, service_user, env)
    try:
        print(config.render_effective(settings), end="")
        sys.stdout.flush()
    except BrokenPipeError:
        # `faxd check-config | head`: the verdict below still counts, and is still said.
        _silence_stdout()
    notes = [differs] if differs else []
    for warning in (*settings.warnings, *notes, *as_service.warnings):
        print(f"warning: {shown_lines(warning)}", file=sys.stderr)
    if problems:
        _say_problems(path, [str(p) for p in problems])
        return Exit.FAILURE
    print(f"{shown_lines(str(path))}: OK", file=sys.stderr)
    return Exit.OK


def _say_problems(path: Path, problems: Sequence[str]) -> None:
    # Escaped like every other message: a contact's name may hold terminal controls.
    print(f"{shown_lines(str(path))}: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {shown_lines(problem)}", file=sys.stderr)


def main_entry() -> None:
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.stderr.flush()
    # Worker threads may still sit in a slow upload after a stop; their transmissions are
    # journaled as in flight and resolved at the next start, so do not wait for them.
    os._exit(code)
