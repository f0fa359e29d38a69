package configs

// API configures the master's HTTP API beyond its address (listen.api).
type API struct {
	Auth APIAuth `yaml:"auth"`
}

// APIAuth guards the API: a bearer token, HTTP basic auth, or both (either
// one admits). Empty: no check, which is safe only while listen.api is on
// loopback; the master warns at start otherwise.
type APIAuth struct {
	Token    string `yaml:"token"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Enabled says whether requests must authenticate.
func (a APIAuth) Enabled() bool { return a.Token != "" || a.Username != "" }

func (a API) problems(v *validator) {
	if t := a.Auth.Token; t != "" && len(t) < 16 {
		v.fail("api.auth.token", "must be at least 16 characters, got %d", len(t))
	}
	if (a.Auth.Username == "") != (a.Auth.Password == "") {
		v.fail("api.auth.username", "and api.auth.password go together: set both or neither")
	}
}
