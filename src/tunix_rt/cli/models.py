"""``tunix-rt models``: the model registry (create, promote runs, aliases, download, delete)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.cli.common import (
    console,
    err_console,
    exit_for,
    fail,
    invalid,
    run_in_transaction,
    sessionmaker_for,
    settings_or_exit,
)
from tunix_rt.config import Settings
from tunix_rt.kit.errors import DomainError
from tunix_rt.kit.text import Label, Name
from tunix_rt.registry import schemas, service, store

app = typer.Typer(
    help="Registered models: versions promoted from runs, aliases, downloads.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_NAME: TypeAdapter[str] = TypeAdapter(Name)
_LABEL: TypeAdapter[str] = TypeAdapter(Label)


def _exit_for(exc: DomainError) -> typer.Exit:
    return exit_for(exc)


def _run_orchestrated(settings: Settings, work: Any) -> Any:
    """Run ``work(sessionmaker)`` for the operations that commit themselves (promote,
    delete: files are written or removed around their transaction)."""

    async def run() -> Any:
        async with sessionmaker_for(settings) as sessionmaker:
            return await work(sessionmaker)

    try:
        return asyncio.run(run())
    except DomainError as exc:
        raise _exit_for(exc) from None


def _checked(adapter: TypeAdapter[str], value: str, what: str) -> str:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        raise fail(f"invalid {what} {value!r}: {reason}", 2) from None


def _model_name(value: str) -> str:
    return _checked(_NAME, value, "model name")


def _split_ref(value: str) -> tuple[str, str | None]:
    """``NAME`` → (name, None); ``NAME@REF`` → (name, ref); both parts checked (exit 2)."""
    name, sep, ref = value.partition("@")
    if not sep:
        return _model_name(name), None
    return _model_name(name), _checked(_LABEL, ref, "version or alias")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    return f"{value:.1f} {unit}"


def _score(version: schemas.Version) -> str:
    score = version.metrics.get("score")
    return f"{score:g}" if isinstance(score, (int, float)) else ""


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _print_version(version: schemas.Version) -> None:
    aliases = f"  (aliases: {', '.join(version.aliases)})" if version.aliases else ""
    console.print(f"[bold]{version.ref}[/bold]{aliases}", highlight=False)
    provenance = version.provenance
    dataset = provenance.dataset_key or "-"
    if provenance.dataset_sha256:
        dataset += f" (sha256 {provenance.dataset_sha256[:12]})"
    rows = [
        ("run", str(version.run_id) if version.run_id else "(deleted)"),
        ("sha256", version.sha256),
        ("size", _size(version.size_bytes)),
        ("base model", provenance.model_id),
        ("dataset", dataset),
        ("created", f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    metrics = {k: v for k, v in version.metrics.items() if isinstance(v, (int, float))}
    if metrics:
        rows.append(("metrics", ", ".join(f"{k}={v:g}" for k, v in metrics.items())))
    for label, value in rows:
        console.print(f"{label:<11}{value}", highlight=False, markup=False)


def _print_model(detail: schemas.ModelDetail) -> None:
    about = f"  {detail.description}" if detail.description else ""
    console.print(f"[bold]{detail.name}[/bold]{about}", highlight=False)
    aliases = ", ".join(f"{a} → {v}" for a, v in detail.aliases.items()) or "none"
    console.print(
        f"{detail.version_count} version(s), latest {detail.latest_version or '-'}; "
        f"aliases: {aliases}",
        highlight=False,
        markup=False,
    )
    if not detail.versions:
        console.print(
            f"promote a completed run with: tunix-rt models promote {detail.name} RUN_ID",
            highlight=False,
            markup=False,
        )
        return
    table = Table("version", "aliases", "score", "sha256")
    table.add_column("created_at", no_wrap=True)
    table.add_column("run_id", no_wrap=True, min_width=36)
    for version in detail.versions:
        table.add_row(
            version.version,
            ", ".join(version.aliases),
            _score(version),
            version.sha256[:12],
            f"{version.created_at:%Y-%m-%d %H:%M}",
            str(version.run_id) if version.run_id else "(deleted)",
        )
    console.print(table)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Model name (letters, digits, '.', '_', '-').")],
    description: Annotated[str | None, typer.Option(help="What the model is for.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a model name; versions are promoted into it from runs."""
    try:
        body = schemas.ModelCreate(name=name, description=description)
    except ValidationError as exc:
        raise invalid("model", exc) from None
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> schemas.ModelDetail:
        model = await service.create_model(session, body.name, body.description)
        return await service.model_detail(session, model)

    detail: schemas.ModelDetail = run_in_transaction(settings, work)
    if as_json:
        _print_json(detail.model_dump(mode="json"))
        return
    console.print(f"created model {detail.name}", highlight=False, markup=False)


@app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List registered models, most recently changed first."""
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> list[schemas.ModelDetail]:
        return [
            await service.model_detail(session, model)
            for model in await service.list_models(session)
        ]

    details: list[schemas.ModelDetail] = run_in_transaction(settings, work)
    if as_json:
        for detail in details:
            summary = schemas.ModelSummary.model_validate(detail.model_dump(exclude={"versions"}))
            sys.stdout.write(summary.model_dump_json() + "\n")
        return
    table = Table("name", "versions", "latest", "aliases", "updated_at", "description")
    for detail in details:
        table.add_row(
            detail.name,
            str(detail.version_count),
            detail.latest_version or "",
            ", ".join(f"{a} → {v}" for a, v in detail.aliases.items()),
            detail.updated_at.isoformat()[:19],
            detail.description or "",
        )
    console.print(table)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (the model), or NAME@VERSION / NAME@ALIAS.")],
    as_json: JsonOption = False,
) -> None:
    """A model with its versions and aliases, or one version."""
    name, version_ref = _split_ref(ref)
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> schemas.ModelDetail | schemas.Version:
        model = await service.get_model(session, name)
        if version_ref is None:
            return await service.model_detail(session, model)
        row = await service.get_version(session, name, version_ref)
        return await service.version_view(session, model, row)

    found: schemas.ModelDetail | schemas.Version = run_in_transaction(settings, work)
    if as_json:
        _print_json(found.model_dump(mode="json"))
    elif isinstance(found, schemas.Version):
        _print_version(found)
    else:
        _print_model(found)


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    run_id: Annotated[str, typer.Argument(help="A completed local training run.")],
    version: Annotated[
        str | None, typer.Option(help="Version name (default v1, v2, … in order).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a completed run's final model as a version (Hugging Face layout, SHA-256).

    The same weights promoted again give back their existing version."""
    model_name = _model_name(name)
    try:
        body = schemas.VersionCreate.model_validate({"run_id": run_id, "version": version})
    except ValidationError as exc:
        raise invalid("promotion", exc) from None
    settings = settings_or_exit()
    err_console.print(f"exporting run {body.run_id}'s final model …", highlight=False)

    async def work(
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> tuple[schemas.Version, bool]:
        return await service.promote(sessionmaker, settings, model_name, body.run_id, body.version)

    try:
        view, created = _run_orchestrated(settings, work)
    except typer.Exit:  # a domain error, already reported (a click Exit is a RuntimeError)
        raise
    except RuntimeError as exc:  # the export child failed for a reason that is not the run's
        raise fail(str(exc)) from None
    if as_json:
        _print_json({**view.model_dump(mode="json"), "created": created})
        return
    if created:
        console.print(f"registered {view.ref} (new version)", highlight=False, markup=False)
    else:
        console.print(
            f"{view.ref} holds these weights already (no new version)",
            highlight=False,
            markup=False,
        )
    console.print(f"sha256  {view.sha256}", highlight=False, markup=False)
    console.print(f"size    {_size(view.size_bytes)}", highlight=False, markup=False)


@app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion.")],
    version: Annotated[
        str | None, typer.Argument(help="The version it points at (e.g. v2); not with --delete.")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
) -> None:
    """Point an alias at a version (moving it if it pointed elsewhere), or --delete it."""
    model_name = _model_name(name)
    if delete == (version is not None):
        raise fail("give a VERSION to point the alias at, or --delete (not both)", 2)
    settings = settings_or_exit()
    if delete:
        run_in_transaction(
            settings, lambda session: service.delete_alias(session, model_name, alias_name)
        )
        console.print(f"deleted alias {model_name}@{alias_name}", highlight=False, markup=False)
        return
    assert version is not None
    target_version = _checked(_LABEL, version, "version")

    async def work(session: AsyncSession) -> str:
        _, target = await service.set_alias(session, model_name, alias_name, target_version)
        return target.version

    pointed: str = run_in_transaction(settings, work)
    console.print(
        f"{model_name}@{alias_name} → {model_name}@{pointed}", highlight=False, markup=False
    )


@app.command("download")
def download(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Archive to write (default NAME-VERSION.tar.gz)."),
    ] = None,
) -> None:
    """Write a version as a Hugging Face–layout .tar.gz.

    The archive holds config.json, model.safetensors and the tokenizer files under
    NAME-VERSION/; the SHA-256 printed is that of model.safetensors."""
    name, version_ref = _split_ref(ref)
    if version_ref is None:
        raise fail(f"download needs NAME@VERSION or NAME@ALIAS, got {ref!r}", 2)
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> service.Resolved:
        return await service.resolve(session, settings, f"{name}@{version_ref}", field="ref")

    resolved: service.Resolved = run_in_transaction(settings, work)
    folder = f"{name}-{resolved.version.version}"
    target = output if output is not None else Path(f"{folder}.tar.gz")
    if target.is_dir():
        target = target / f"{folder}.tar.gz"
    try:
        archive = store.write_archive(resolved.directory, folder)
    except FileNotFoundError:  # the version was deleted meanwhile
        raise fail(f"{resolved.ref}'s weights are no longer in the store") from None
    try:
        shutil.move(archive, target)
    except OSError as exc:
        archive.unlink(missing_ok=True)
        raise fail(f"cannot write {target}: {exc}", 2) from None
    console.print(
        f"wrote {target} ({_size(target.stat().st_size)}): {resolved.ref}",
        highlight=False,
        markup=False,
    )
    console.print(f"sha256  {resolved.version.sha256}  (model.safetensors)", highlight=False)


@app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (one version) or NAME (the model).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a version (refused while an alias points at it), or a whole model.

    Deleting a model deletes its versions and aliases. Weights that no remaining version
    uses are removed from the registry store; the source runs keep their own files."""
    name, version = _split_ref(ref)
    what = f"version {name}@{version}" if version else f"model {name} with all its versions"
    if not yes:
        typer.confirm(f"Delete {what}?", abort=True)
    settings = settings_or_exit()

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        if version is None:
            await service.delete_model(sessionmaker, settings, name)
        else:
            await service.delete_version(sessionmaker, settings, name, version)

    _run_orchestrated(settings, work)
    message = f"deleted {name}@{version}" if version else f"deleted model {name}"
    console.print(message, highlight=False, markup=False)
