package web_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/web"
)

// With Actions on, every action (retry, delete, snooze, cancel, pause a
// queue...) asks the application's Authorize hook first, then checks the
// CSRF token of the page the form came from.
func ExampleConfig_actions() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	c, err := qg.NewClient2(db)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h, err := web.New(c, web.Config{Actions: true, Authorize: func(r *http.Request) error {
		if r.Header.Get("X-Role") != "operator" { // an application checks its own session here
			return errors.New("operators only")
		}
		return nil
	}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	res, err := http.PostForm(srv.URL+"/queues/pause", url.Values{"queue": {"example_actions"}})
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("pause without the role:", res.Status)
	req, _ := http.NewRequest("POST", srv.URL+"/queues/pause", nil)
	req.Header.Set("X-Role", "operator")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("pause without the page's CSRF token:", res.Status)
	// Output:
	// pause without the role: 403 Forbidden
	// pause without the page's CSRF token: 403 Forbidden
}
