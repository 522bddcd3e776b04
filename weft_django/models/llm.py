"""LLM calls (weft_django.llm): one row per call, and each provider's circuit breaker, shared by every worker."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class LlmCall(models.Model):
    """One call to a model: what it used and cost, and which prompt template (and version) it was made from.
    The tokens were spent whatever became of the attempt, so a call is recorded as soon as it returns."""

    job_id = models.BigIntegerField(_("job"), null=True, blank=True)
    task_id = models.BigIntegerField(_("task"), null=True, blank=True)
    attempt_id = models.BigIntegerField(_("attempt"), null=True, blank=True)
    provider = models.CharField(_("provider"), max_length=20)
    model = models.CharField(_("model"), max_length=200)
    input_tokens = models.PositiveBigIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveBigIntegerField(_("output tokens"), default=0)
    cost = models.FloatField(_("cost"), default=0.0)
    template = models.CharField(_("prompt template"), max_length=200, blank=True)
    template_version = models.CharField(_("template version"), max_length=64, blank=True)
    retries = models.PositiveIntegerField(_("retries"), default=0)
    error = models.TextField(_("error"), blank=True)
    duration = models.FloatField(_("duration (s)"), null=True, blank=True)
    created_at = models.DateTimeField(_("made"), auto_now_add=True)

    class Meta:
        verbose_name = _("LLM call")
        indexes: ClassVar = [models.Index(fields=["job_id"], name="weft_llmcall_job_idx"),
                             models.Index(fields=["task_id"], name="weft_llmcall_task_idx")]

    def __str__(self) -> str:
        return f"{self.provider} {self.model}: {self.input_tokens}+{self.output_tokens} tokens"


class Breaker(models.Model):
    """A provider's circuit breaker: after enough failures in a row it opens, and calls wait until it may be
    tried again instead of failing (and burning attempts) one after another."""

    provider = models.CharField(_("provider"), max_length=200, unique=True)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    open_until = models.DateTimeField(_("open until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("LLM circuit breaker")

    def __str__(self) -> str:
        return f"{self.provider}: {self.failures} failures" + (f", open until {self.open_until}" if self.open_until
                                                               else "")
