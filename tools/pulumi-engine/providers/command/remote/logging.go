package remote

import "github.com/pulumi/pulumi-go-provider/infer"

// Logging is the enum command:remote:Logging: which of the command's streams go to the engine's log.
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	LogNone            Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: string(LogStdout), Value: LogStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: string(LogStderr), Value: LogStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: string(LogStdoutAndStderr), Value: LogStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: string(LogNone), Value: LogNone, Description: "Capture no logs"},
	}
}

// Unset means both streams.
func (l *Logging) logStdout() bool { return l == nil || *l == LogStdout || *l == LogStdoutAndStderr }
func (l *Logging) logStderr() bool { return l == nil || *l == LogStderr || *l == LogStdoutAndStderr }
