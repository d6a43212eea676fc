// Command teamline is the Teamline hotline call-routing server.
//
//	teamline serve   --config FILE   run the SIP edge, media relay and HTTP API
//	teamline migrate --config FILE   apply database migrations and exit
//	teamline version                 print the version
package main

import (
	"os"

	"github.com/teamline/teamline/internal/app"
)

func main() { os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr)) }
