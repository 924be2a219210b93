package config

import (
	"fmt"
	"io"
	"path/filepath"
)

// Load reads and validates the config file at path (and the files it
// includes). The error's message is nginx's text after "[emerg] ".
func Load(path string) (*Config, error) {
	p, err := loadParser(path, nil, lookupHost)
	if err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// Parse is Load with the main file's contents given; includes are still
// read from disk, relative to path's directory.
func Parse(path string, src []byte) (*Config, error) {
	p, err := loadParser(path, src, lookupHost)
	if err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// Dump validates the config like Load, then writes every file read (the
// main file, then each included file in the order read) as nginx -T does:
// "# configuration file PATH:" on a line, the contents, an empty line.
func Dump(path string, w io.Writer) error {
	p, err := loadParser(path, nil, lookupHost)
	if err != nil {
		return err
	}
	for _, f := range p.files {
		if _, err := fmt.Fprintf(w, "# configuration file %s:\n%s\n", f.path, f.data); err != nil {
			return err
		}
	}
	return nil
}

// loadParser runs one parse; src nil means read path from disk.
func loadParser(path string, src []byte, lookup func(string) ([]string, error)) (*parser, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	p := newParser(path)
	p.lookupHost = lookup
	if src == nil {
		data, err := p.readFile(path)
		if err != nil {
			return nil, errorf(`open() "%s" failed %s`, path, syscallErr(err))
		}
		src = data
	} else {
		p.files = append(p.files, srcFile{path: path, data: src})
	}
	c := p.cfg
	c.WorkerConnections = 512
	c.GCHeapFloor = DefaultGCHeapFloor
	c.Daemon, c.MasterProcess = true, true
	if err := p.parse(newLexer(path, src), false); err != nil {
		return nil, err
	}
	if len(c.ErrorLogs) == 0 {
		c.ErrorLogs = []LogTarget{{Path: "stderr", Level: "error"}}
	}
	return p, nil
}
