"""Errors of the roles (job client, provider, watchtower), each with its exit code."""

from __future__ import annotations

from node.errors import PocError


class RoleError(PocError):
    exit_code = 10


class NotConfigured(RoleError):
    """A contract address or other setting the role needs is missing."""

    exit_code = 3


class JobPackageError(RoleError):
    """A job package in the content store is malformed (not a poc job, bad spec, bad input)."""

    exit_code = 11


class RootMismatch(RoleError):
    """The job's data does not match the roots fixed on chain (program root, S_0, sizes)."""

    exit_code = 12


class OutputMismatch(RoleError):
    """A downloaded output does not hash to the output root accepted on chain."""

    exit_code = 13


class JobNotReady(RoleError):
    """The job has no accepted result yet (or no result at all)."""

    exit_code = 14


class InsufficientStake(RoleError):
    """The provider's free stake does not cover the job's required stake."""

    exit_code = 15


class UnknownJob(RoleError):
    """No job has this id on the configured market."""

    exit_code = 16


class NoReplicaMarket(RoleError):
    """The deployment has no replica market (replicated jobs, protocol.md 6.8)."""
