"""An example third-party analysis plugin: flags units that raised, and an offline 'echo' AI provider."""

from pystrument.core import hookimpl
from pystrument.core.analysis import AnalysisResult, Finding


class ErrorAnalyser:
    name = "example_errors"

    def analyse(self, context):
        error = context.record.error
        if error is None:
            return []
        return [Finding(analyser=self.name, title=f"The unit raised {error.type}", function=context.record.name,
                        evidence={"error": error.type}, suggestion="Fix the error first.", severity="high",
                        expected_saving_ms=context.record.duration_ms, confidence=0.9)]


class EchoProvider:
    name = "example-echo"
    default_model = "echo-1"

    def analyse(self, context, findings, settings):
        if settings.get("fail"):  # a provider that keeps failing, for the retry and failed-job tests
            raise RuntimeError(f"example-echo failing on purpose: {settings['fail']}")
        return AnalysisResult(summary=f"{len(findings)} findings for {context.record.name}", findings=list(findings))


@hookimpl
def register_analysers(register):
    register(ErrorAnalyser.name, ErrorAnalyser())


@hookimpl
def register_ai_providers(register):
    register(EchoProvider.name, EchoProvider())
