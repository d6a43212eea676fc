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
// DATABASE_URL, when set, replaces database.url, and TEAMLINE_API_TOKEN
// replaces http.api_token. An agent's password may be given as
// password_env: NAME, read from the environment at load time; a set variable
// wins over a password written in the file.
//
// # Routing
//
// The routing block holds the defaults every team inherits (affinity, wave
// sizes and ring times, fallback, no-answer limit, wrap-up, whose clock
// opening hours are read on) and names the national pool. Each team may
// add weekly hours ("HH:MM-HH:MM" ranges per day), dated exceptions
// (closed, or other hours), its own wrap-up and routing overrides,
// neighbour teams with caps, and storm thresholds. Load parses hours into
// Hours.Week and Exception.Ranges and fills omitted storm thresholds with
// their defaults.
//
// # Derived fields
//
// Load normalises customers' numbers to E.164 with default_country, derives
// missing customer ids from their numbers, parses trunk networks
// (Trunk.Sources) and loads team time zones (Team.Location). Use
// Config.Redacted before logging a Config: it hides passwords, the API token
// and the database password.
package config
