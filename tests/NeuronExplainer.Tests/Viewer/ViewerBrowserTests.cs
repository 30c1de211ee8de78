using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;
using NeuronExplainer.Cli.Viewer;

using NeuronExplainer.Tests.Storage;

namespace NeuronExplainer.Tests.Viewer;

/// <summary>
/// The pages in a real browser (Debian's chromium driven by Playwright) against the viewer on a real
/// loopback port. Any console error (a script failure or a refused inline style) fails the test.
/// </summary>
[Trait(TestCategory.Name, TestCategory.Slow)]
public sealed partial class ViewerBrowserTests(ViewerBrowserTests.Server server) : IClassFixture<ViewerBrowserTests.Server>
{
    /// <summary>One viewer on a loopback port and one browser, shared by the tests of this class.</summary>
    public sealed class Server : IAsyncLifetime
    {
        readonly TempStore store = ViewerFixture.Store();
        WebApplication app = null!;
        IPlaywright playwright = null!;
        public IBrowser Browser { get; private set; } = null!;
        public string BaseUrl { get; private set; } = "";

        public async Task InitializeAsync()
        {
                app = ViewerApp.Build(store.Store, new ViewerOptions(IPAddress.Loopback, 0));
            await app.StartAsync();
            BaseUrl = app.Urls.Single();
            playwright = await Playwright.CreateAsync();
            Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium",
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            });
        }

        public async Task DisposeAsync()
        {
            await Browser.DisposeAsync();
            playwright.Dispose();
            await app.DisposeAsync();
            store.Dispose();
        }
    }

    readonly string baseUrl = server.BaseUrl;

    /// <summary>A page that records console errors and fails on any dialog (an injected alert would open one).</summary>
    async Task<(IPage Page, List<string> Errors)> Open(string path)
    {
        var page = await server.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add($"{m.Text} at {m.Location}"); };
        page.PageError += (_, e) => errors.Add(e);
        page.Dialog += (_, d) => errors.Add($"dialog opened: {d.Message}");
        await page.GotoAsync(baseUrl + path);
        return (page, errors);
    }

    /// <summary>A viewer of its own on the fixture store with more added, and a page that records script and console errors.</summary>
    sealed class OwnViewer(TempStore store, WebApplication app, IPage page) : IAsyncDisposable
    {
        public string Url => app.Urls.Single();
        public IPage Page => page;
        public List<string> Errors { get; } = [];

        public static async Task<OwnViewer> Start(IBrowser browser, Action<NeuronExplainer.Storage.INeuronStore> add)
        {
            var store = ViewerFixture.Store();
            add(store.Store);
            var app = ViewerApp.Build(store.Store, new ViewerOptions(IPAddress.Loopback, 0));
            await app.StartAsync();
            var own = new OwnViewer(store, app, await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } }));
            own.Page.Console += (_, m) => { if (m.Type == "error") own.Errors.Add(m.Text); };
            own.Page.PageError += (_, e) => own.Errors.Add(e);
            return own;
        }

        public async ValueTask DisposeAsync()
        {
            await page.CloseAsync();
            await app.DisposeAsync();
            store.Dispose();
        }
    }

    /// <summary>Saves a full-page screenshot under the test output's artifacts/ for a person to look at.</summary>
    static async Task Screenshot(IPage page, string name)
    {
        Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "artifacts", name), FullPage = true });
    }

    [Fact]
    public async Task Neuron_page_shows_one_cell_per_token_with_values_on_hover()
    {
        var (page, errors) = await Open("/neuron/1/2");
        var firstExcerpt = page.Locator("#top-excerpts .excerpt").First;
        var cells = firstExcerpt.Locator(".tok");
        await Assertions.Expect(cells).ToHaveCountAsync(ViewerFixture.HostileTokens.Length + 2);
        Assert.Equal(8, await page.Locator("#top-excerpts .excerpt").CountAsync());
        Assert.Equal(7, await page.Locator("#random-excerpts .excerpt").CountAsync());
        // A 64-token excerpt wraps inside the page instead of running off its right edge.
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways");

        await cells.Nth(0).HoverAsync();
        var tooltip = page.Locator("#tooltip");
        await Assertions.Expect(tooltip).ToBeVisibleAsync();
        await Assertions.Expect(tooltip).ToContainTextAsync("activation 3.5");
        await cells.Nth(7).HoverAsync();
        await Assertions.Expect(tooltip).ToContainTextAsync("activation 4.25");

        await Screenshot(page, "viewer-neuron.png");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Hostile_tokens_and_explanations_render_as_text()
    {
        var (page, errors) = await Open("/neuron/1/2");
        var cells = page.Locator("#top-excerpts .excerpt").First.Locator(".tok");
        await Assertions.Expect(cells).ToHaveCountAsync(ViewerFixture.HostileTokens.Length + 2);
        Assert.Equal(ViewerFixture.ScriptToken, await cells.Nth(0).TextContentAsync());
        Assert.Equal(" &amp;", await cells.Nth(1).TextContentAsync());
        Assert.Equal("\"quoted'", await cells.Nth(2).TextContentAsync());
        Assert.Equal("\\n", await cells.Nth(3).TextContentAsync()); // a newline shows as an escape
        Assert.Equal("\\x07", await cells.Nth(4).TextContentAsync());
        Assert.Equal(1, await cells.Nth(4).Locator(".ctl").CountAsync());
        Assert.Equal("<b>bold</b>", await cells.Nth(5).TextContentAsync());
        // Only the page's own script exists, and no <b> element came from data.
        Assert.Equal(1, await page.Locator("script").CountAsync());
        Assert.Equal(0, await page.Locator("main b").CountAsync());
        await Assertions.Expect(page.Locator(".explanation .text").Nth(1)).ToContainTextAsync("the word <script> & friends");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Scored_excerpts_show_simulated_next_to_real()
    {
        var (page, errors) = await Open("/neuron/1/2");
        var chosen = page.Locator(".explanation.chosen");
        await chosen.Locator("summary").ClickAsync();
        var cells = chosen.Locator(".excerpt.scored .tok");
        await Assertions.Expect(cells).ToHaveCountAsync(3);
        await cells.Nth(2).HoverAsync();
        await Assertions.Expect(page.Locator("#tooltip")).ToContainTextAsync("real      3");
        await Assertions.Expect(page.Locator("#tooltip")).ToContainTextAsync("simulated 9.5");
        await Assertions.Expect(chosen).ToContainTextAsync("95% CI 0.520 to 0.670");
        await Screenshot(page, "viewer-neuron-scored.png");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Heads_and_sae_latents_have_pages_at_their_printed_form_linked_from_the_layer_and_search()
    {
        await using var own = await OwnViewer.Start(server.Browser, ViewerFixture.AddOtherKinds);
        var (url, page, errors) = (own.Url, own.Page, own.Errors);

        await page.GotoAsync(url + "/unit/sae:res-jb-1/2");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("SAE latent sae:res-jb-1/2");
        await Assertions.Expect(page.Locator(".explanation.chosen")).ToContainTextAsync("colours of animals");
        await Assertions.Expect(page.Locator("#density")).ToHaveTextAsync("1.2500% of tokens");
        await page.GotoAsync(url + "/unit/head%3A1%2F2");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Head head:1/2");
        await Assertions.Expect(page.Locator("#density")).ToHaveCountAsync(0);

        await page.GotoAsync(url + "/layer/1");
        var headLink = page.Locator("#layer-table a", new PageLocatorOptions { HasText = "head:1/2" });
        await Assertions.Expect(headLink).ToHaveAttributeAsync("href", "/unit/head%3A1/2");
        await Assertions.Expect(page.Locator("#layer-table a", new PageLocatorOptions { HasText = "sae:res-jb-1/2" })).ToHaveAttributeAsync("href", "/unit/sae%3Ares-jb-1/2");
        await headLink.ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Head head:1/2");

        await page.GotoAsync(url + "/search?q=colours&kind=sae");
        await Assertions.Expect(page.Locator(".hits li")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator(".hits li a")).ToHaveTextAsync("sae:res-jb-1/2");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_head_page_draws_each_top_excerpts_attention_with_weights_on_hover_and_links_its_layer()
    {
        await using var own = await OwnViewer.Start(server.Browser, ViewerFixture.AddHeads);
        var (page, errors) = (own.Page, own.Errors);
        await page.GotoAsync(own.Url + "/unit/head:1/1");

        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Head head:1/1");
        await Assertions.Expect(page.Locator(".explanation.chosen")).ToContainTextAsync("attends from \"time\" to \"Once\" (8.0)");
        await Assertions.Expect(page.Locator(".explanation.chosen")).ToContainTextAsync("score 0.550");
        // One attention map per top excerpt; random excerpts get none. The first excerpt (9 tokens, the hostile ones
        // first) has 1 + 8 x 2 attended cells.
        await Assertions.Expect(page.Locator("#top-excerpts svg.attention")).ToHaveCountAsync(8);
        await Assertions.Expect(page.Locator("#random-excerpts svg.attention")).ToHaveCountAsync(0);
        var first = page.Locator("#top-excerpts svg.attention").First;
        await Assertions.Expect(first.Locator("rect.attn")).ToHaveCountAsync(17);
        var cell = first.Locator("rect.attn").Nth(1);
        await cell.HoverAsync();
        await Assertions.Expect(page.Locator("#tooltip")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#tooltip")).ToHaveTextAsync($"\" &amp;\" at 1 <- \"{ViewerFixture.ScriptToken}\" at 0\nweight 0.625");
        // A token of the row says what it attends to.
        await page.Locator("#top-excerpts .excerpt").First.Locator(".tok").Nth(2).HoverAsync();
        await Assertions.Expect(page.Locator("#tooltip")).ToContainTextAsync("attends to");
        await Assertions.Expect(page.Locator("#tooltip")).ToContainTextAsync("at 0 (0.625), \"\\\"quoted'\" at 2 (0.250)");

        await Assertions.Expect(page.Locator("#layer-heads a")).ToHaveTextAsync(["head:1/0", "head:1/2", "head:1/3"]);
        await Assertions.Expect(page.Locator("#layer-neurons")).ToHaveAttributeAsync("href", "/neuron/1/0");
        await Assertions.Expect(page.Locator("#next")).ToHaveAttributeAsync("href", "/unit/head%3A1/2");
        await Screenshot(page, "viewer-head.png");
        await page.Locator("#layer-heads a", new PageLocatorOptions { HasText = "head:1/3" }).ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Head head:1/3");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Keys_j_and_k_move_to_next_and_previous_neuron()
    {
        var (page, errors) = await Open("/neuron/0/2");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Neuron 0/2");
        await page.Keyboard.PressAsync("j");
        await Assertions.Expect(page).ToHaveURLAsync(baseUrl + "/neuron/1/0");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Neuron 1/0");
        await page.Keyboard.PressAsync("k");
        await Assertions.Expect(page).ToHaveURLAsync(baseUrl + "/neuron/0/2");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Neuron 0/2");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Search_box_finds_a_neuron_by_a_word_of_its_explanation()
    {
        var (page, errors) = await Open("/");
        await page.Locator("header input[name=q]").FillAsync("counting");
        await page.Locator("header input[name=q]").PressAsync("Enter");
        await Assertions.Expect(page).ToHaveURLAsync(UrlPattern());
        var hit = page.Locator(".hits li").First;
        await Assertions.Expect(hit.Locator("a")).ToHaveAttributeAsync("href", "/neuron/1/2");
        await Assertions.Expect(hit.Locator("mark")).ToHaveTextAsync("counting");
        await hit.Locator("a").ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Neuron 1/2");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Search_results_show_markup_in_explanations_as_text()
    {
        var (page, errors) = await Open("/search?q=script");
        var hit = page.Locator(".hits li").First;
        await Assertions.Expect(hit.Locator(".hit")).ToHaveTextAsync("the word <script> & friends");
        await Assertions.Expect(hit.Locator("mark")).ToHaveTextAsync("script");
        Assert.Equal(1, await page.Locator("script").CountAsync());
        Assert.Equal("script", await page.Locator("header input[name=q]").InputValueAsync());
        Assert.Empty(errors);
    }

    [GeneratedRegex(@"/search\?q=counting$")]
    private static partial Regex UrlPattern();

    [Fact]
    public async Task Home_draws_the_score_chart_and_extremes()
    {
        var (page, errors) = await Open("/");
        await Assertions.Expect(page.Locator(".chart svg a")).ToHaveCountAsync(2);
        await page.Locator("details summary", new PageLocatorOptions { HasText = "2 settings" }).ClickAsync();
        await Assertions.Expect(page.Locator("details dl")).ToContainTextAsync("seq_len64");
        Assert.Equal(2 * ViewerQueries.HistogramBins, await page.Locator(".chart svg rect").CountAsync());
        await Assertions.Expect(page.Locator("table").First.Locator("tbody tr").First).ToContainTextAsync("colours of clothing");
        await Screenshot(page, "viewer-home.png");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Layer_table_sorts_by_score()
    {
        var (page, errors) = await Open("/layer/1");
        var firstRow = page.Locator("#layer-table tbody tr").First;
        await Assertions.Expect(firstRow).ToContainTextAsync("1/0");
        await page.Locator("#sort-score").ClickAsync();
        await Assertions.Expect(firstRow).ToContainTextAsync("colours of clothing");
        await page.Locator("#sort-score").ClickAsync();
        await Assertions.Expect(firstRow.Locator("td").Nth(1)).ToHaveTextAsync("—");
        Assert.Empty(errors);
    }
}
