package main

import (
	"flag"
	"fmt"
	"os"

	"mailproxy/bench/loadgen"
)

func runSummary(args []string) error {
	fs := flag.NewFlagSet("summary", flag.ExitOnError)
	base := fs.String("base", "nginx", "label of the reference system")
	cand := fs.String("cand", "mailproxy", "label of the system compared with it")
	floor := fs.String("floor", "haproxy", "label of the floor (a TCP pass-through) shown as the last column when reports carry it")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: mailbench summary [-base L] [-cand L] [-floor L] DIR (of -json reports made with -label)")
	}
	rs, err := loadgen.ReadReports(fs.Arg(0))
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("no reports in %s", fs.Arg(0))
	}
	loadgen.Summarize(os.Stdout, rs, *base, *cand, *floor)
	return nil
}
