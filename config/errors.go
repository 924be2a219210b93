package config

import "fmt"

// errorf builds a config error: its message is nginx's text after
// "[emerg] ", so that cmd prints "mailproxy: [emerg] " + err.Error().
func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }
