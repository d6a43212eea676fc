// Package config reads Teamline's one YAML configuration file into a typed,
// validated Config.
//
// # Loading
//
// Load reads the file, starts from Default for every omitted field, decodes
// the YAML syntax tree field by field and then validates the result. Unknown
// fields are errors. Every mistake is reported at once, in one
// *ValidationError whose lines look like
//
//	configs/teamline.yaml:12: teams[0].agents[1].password: must not be empty
//
// Messages never quote secrets.
//
// # Environment
//
// DATABASE_URL, when set, replaces database.url. An agent's password may be
// given as password_env: NAME, read from the environment at load time; a set
// variable wins over a password written in the file.
//
// # Derived fields
//
// Load normalises customers' numbers to E.164 with default_country, derives
// missing customer ids from their numbers, parses trunk networks
// (Trunk.Sources) and loads team time zones (Team.Location). Use
// Config.Redacted before logging a Config.
package config
