package mastodon

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	gomasto "github.com/mattn/go-mastodon"
)

// Scopes are what passerelle asks for: reading statuses is needed to find a
// status again after a crash (reconcile), media to attach banners,
// notifications to read the replies under the events' statuses (answers
// such as "going"), and writing statuses also answers them directly.
const Scopes = "read:accounts read:statuses read:notifications write:statuses write:media"

// outOfBand is the redirect URI that makes the instance show the code.
const outOfBand = "urn:ietf:wg:oauth:2.0:oob"

// App is passerelle registered on an instance, waiting for the code the
// account's owner copies from AuthorizeURL.
type App struct {
	Instance     string
	ClientID     string
	ClientSecret string
	AuthorizeURL string
}

// NormalizeInstance checks an instance URL and returns it without a
// trailing slash, path, query or fragment.
func NormalizeInstance(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("instance %q is not a URL like https://mastodon.example", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Register registers passerelle as an application on the instance.
func Register(ctx context.Context, hc *http.Client, instance string) (*App, error) {
	instance, err := NormalizeInstance(instance)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	app, err := gomasto.RegisterApp(ctx, &gomasto.AppConfig{
		Client: *wrapHTTP(hc), Server: instance, ClientName: "passerelle",
		RedirectURIs: outOfBand, Scopes: Scopes, Website: "https://codeberg.org/passerelle",
	})
	if err != nil {
		return nil, fmt.Errorf("register passerelle on %s: %w", instance, err)
	}
	return &App{Instance: instance, ClientID: app.ClientID, ClientSecret: app.ClientSecret, AuthorizeURL: app.AuthURI}, nil
}

// Revoke revokes the account's token on its instance (POST /oauth/revoke),
// so that a disconnected passerelle can no longer post there.
func Revoke(ctx context.Context, hc *http.Client, a *Account) error {
	api := gomasto.NewClient(&gomasto.Config{Server: a.Instance, ClientID: a.ClientID, ClientSecret: a.ClientSecret, AccessToken: a.Token})
	api.Client = *wrapHTTP(hc)
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := api.RevokeToken(ctx); err != nil {
		return fmt.Errorf("revoke passerelle's token on %s: %w", a.Instance, err)
	}
	return nil
}

// Authorize exchanges the code the owner pasted for a token, checks it with
// verify_credentials and returns the account ready to store.
func Authorize(ctx context.Context, hc *http.Client, app *App, code string) (*Account, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return nil, fmt.Errorf("no authorization code given: open %s, approve, and paste the code shown", app.AuthorizeURL)
	}
	api := gomasto.NewClient(&gomasto.Config{Server: app.Instance, ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	api.Client = *wrapHTTP(hc)
	tctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := api.GetUserAccessToken(tctx, code, outOfBand); err != nil {
		return nil, fmt.Errorf("exchange the authorization code on %s: %w", app.Instance, err)
	}
	me, err := NewClient(hc, app.Instance, api.Config.AccessToken).Me(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify the new token on %s: %w", app.Instance, err)
	}
	u, _ := url.Parse(app.Instance)
	return &Account{
		Instance: app.Instance, Acct: "@" + me.Username + "@" + u.Host, RemoteID: string(me.ID),
		ClientID: app.ClientID, ClientSecret: app.ClientSecret, Token: api.Config.AccessToken, State: AccountActive,
		Scopes: Scopes,
	}, nil
}
