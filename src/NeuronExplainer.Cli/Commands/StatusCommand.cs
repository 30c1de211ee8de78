using System.CommandLine;
using System.Globalization;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Cli.Commands;

/// <summary>
/// <c>neuron-explainer status</c>: what the workers on a store are doing: who holds claims, where each explainer/simulator
/// pair stands, the pace and ETA over the last minutes, and the LLM spend against the budget.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var store = new Option<string>("--store") { Description = "Run directory holding store.db, or a postgresql:// store URL", Required = true };
        var minutes = new Option<double>("--minutes") { Description = "Minutes over which throughput and ETA are measured", DefaultValueFactory = _ => 5 };
        var command = new Command("status", """
            Show what the workers on a store are doing: the workers holding claims (and the claims left by killed ones),
            results done, failed and pending per explainer/simulator pair, neurons and LLM calls per minute with the ETA over
            the last minutes, and the LLM spend against the budget (--max-cost) the workers share.

            Example:
              neuron-explainer status --store postgresql://explainer@db.example:5432/runs?schema=gpt2xl
            """)
        {
            store, minutes,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            double window = parse.GetValue(minutes);
            if (window <= 0) throw new NeuronExplainerException($"--minutes must be more than 0, got {window}");
            using var opened = NeuronStores.OpenExisting(parse.GetRequiredValue(store), StoreAccess.ReadOnly);
            var now = DateTimeOffset.UtcNow;
            var activity = opened.GetActivity(now.AddMinutes(-window), now);
            int neurons = opened.CountNeuronsByLayer().Values.Sum();
            var pairs = opened.ListPairLayerScores().GroupBy(p => (p.Explainer, p.Simulator)).ToList();
            var budget = opened.GetBudget(now);
            string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

            output.WriteLine($"store {opened.Location}: {neurons:N0} neurons");
            output.WriteLine(I($"workers alive (holding claims): {activity.Workers.Count}, claims held: {activity.Workers.Sum(w => w.Claims)}, claims lapsed (killed workers', taken over by the next claim): {activity.LapsedClaims}"));
            foreach (var worker in activity.Workers)
                output.WriteLine(I($"  {worker.Owner}: {worker.Claims} claim(s), lease until {worker.Until:HH:mm:ss} UTC"));
            double perMinute = activity.ResultsSince / window;
            foreach (var pair in pairs)
            {
                int results = pair.Sum(p => p.Results), done = pair.Sum(p => p.Done), failed = pair.Sum(p => p.Failed);
                int remaining = neurons - done - failed;
                string eta = remaining == 0 ? "finished" : perMinute > 0 ? I($"ETA {TimeSpan.FromMinutes(remaining / perMinute):d\\.hh\\:mm\\:ss} at the store's pace") : "no results in the window";
                output.WriteLine(I($"{pair.Key.Explainer} / {pair.Key.Simulator}: done {done:N0}, failed {failed:N0}, explained not scored (or no activations) {results - done - failed:N0}, not started {neurons - results:N0}; {eta}"));
            }
            if (pairs.Count == 0) output.WriteLine("no results yet");
            output.WriteLine(I($"last {window:0.#} min: {activity.ResultsSince:N0} results written ({perMinute:0.#}/min), {activity.PaidCallsSince:N0} paid LLM calls ({activity.PaidCallsSince / window:0.#}/min) costing ${activity.CostSince:0.####}"));
            output.WriteLine(budget.MaxCost is decimal max
                ? I($"LLM spend ${budget.Spent:0.####} of the ${max:0.####} budget ({(max == 0 ? 100 : 100 * budget.Spent / max):0.#}%), ${budget.Reserved:0.####} reserved by calls in flight")
                : I($"LLM spend ${budget.Spent:0.####}, no budget given (--max-cost)"));
            return 0;
        });
        return command;
    }
}
