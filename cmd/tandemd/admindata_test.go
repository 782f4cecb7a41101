package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication/reporting"
)

const adminHash = "pbkdf2-sha256$600000$AdminSaltAdminSalt0000$AdminKeyAdminKeyAdminKeyAdminKeyAdminKey000"

const adminDoc = `
business_units:
  - {id: north, name: North}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: ann, name: Ann Smith, first_name: Ann, last_name: Smith, extension: "2001", business_unit: north, password_hash: "` + adminHash + `"}
queues:
  - {id: sales, name: Sales, business_unit: north, strategy: skills, service_level_seconds: 20, skills: {english: 3}}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales], skills: {english: 7}, wrap_up_seconds: 5}
  - {id: a2, name: Second Agent}
`

// What the reporting sync reads from a real engine: the names, and never
// the password hash the engine holds.
func TestAdminDataFromTheEngine(t *testing.T) {
	doc, err := contactcenter.ParseDocument([]byte(adminDoc))
	if err != nil {
		t.Fatal(err)
	}
	e := contactcenter.New()
	env, err := command.New(contactcenter.TypeConfigApply, "c1", time.Unix(1_800_000_000, 0), contactcenter.ApplyRequest{Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(env, command.NewEmitter(1, env)); err != nil {
		t.Fatal(err)
	}
	var got reporting.AdminData
	e.View(func(s *contactcenter.State) {
		if s.Config.Users["ann"].PasswordHash != adminHash {
			t.Fatal("the engine does not hold the hash: the test would prove nothing")
		}
		got = adminData(s.Config.Document())
	})
	want := reporting.AdminData{
		Agents: []reporting.AdminAgent{
			{ID: "a1", Name: "Ann Smith", User: "ann", Extension: "2001", Queues: []string{"sales"},
				Skills: map[string]int{"english": 7}, WrapUpSeconds: 5},
			{ID: "a2", Name: "Second Agent"},
		},
		Queues: []reporting.AdminQueue{{ID: "sales", Name: "Sales", BusinessUnit: "north", Strategy: "skills",
			ServiceLevelSeconds: 20, Skills: map[string]int{"english": 3}}},
		Users: []reporting.AdminUser{{ID: "ann", Name: "Ann Smith", FirstName: "Ann", LastName: "Smith",
			Extension: "2001", BusinessUnit: "north"}},
		BusinessUnits: []reporting.AdminBusinessUnit{{ID: "north", Name: "North"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("admin data:\n got %+v\nwant %+v", got, want)
	}
	b, _ := json.Marshal(got)
	for _, secret := range append(strings.Split(adminHash, "$"), adminHash, contactcenter.PasswordHashRedacted) {
		if len(secret) > 8 && strings.Contains(string(b), secret) {
			t.Errorf("admin data carries %q: %s", secret, b)
		}
	}
}
