using System.Reflection;
using System.Reflection.Emit;
using NeuronExplainer.Storage;

namespace NeuronExplainer.Tests;

/// <summary>
/// The library's stages depend one way: Models -> Activations -> Explanations (using Llm and Scoring) -> Storage,
/// then the CLI and viewer. Read from the compiled library (signatures, locals and every type, method and field
/// its IL names), so a reference against the direction fails here with both types named.
/// </summary>
public class ArchitectureTests
{
    const string Library = "NeuronExplainer";

    /// <summary>The stages (first namespace segment under the library; "" is the root) each stage may use.</summary>
    static readonly Dictionary<string, string[]> Allowed = new()
    {
        [""] = [],
        ["Models"] = [""],
        ["Activations"] = ["", "Models"],
        ["Scoring"] = ["", "Activations"],
        ["Llm"] = ["", "Activations"],
        ["Explanations"] = ["", "Activations", "Scoring", "Llm"],
        ["Storage"] = ["", "Activations", "Scoring", "Llm", "Explanations"],
    };

    /// <summary>Namespaces the library never uses: it draws nothing on a console and parses no command lines.</summary>
    static readonly string[] Forbidden = ["Spectre.Console", "System.CommandLine", "Microsoft.AspNetCore"];

    [Fact]
    public void Library_stages_depend_only_downstream()
    {
        var violations = Violations(typeof(INeuronStore).Assembly).ToList();
        Assert.True(violations.Count == 0, "references against the pipeline's direction:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void Every_stage_of_the_library_has_a_rule()
    {
        var stages = typeof(INeuronStore).Assembly.GetTypes().Select(t => Stage(t.Namespace)).OfType<string>().Distinct().ToList();
        Assert.All(stages, stage => Assert.True(Allowed.ContainsKey(stage), $"stage {stage} has no dependency rule"));
    }

    [Fact]
    public void The_cli_opens_stores_only_through_the_factory()
    {
        var named = typeof(NeuronExplainer.Cli.CliApp).Assembly.GetTypes()
            .SelectMany(t => References(t).Where(u => u == typeof(SqliteNeuronStore)).Select(_ => Name(t))).Distinct().ToList();
        Assert.True(named.Count == 0, "CLI types naming SqliteNeuronStore (open stores with NeuronStores): " + string.Join(", ", named));
    }

    static IEnumerable<string> Violations(Assembly assembly)
    {
        var seen = new HashSet<string>();
        foreach (var type in assembly.GetTypes())
        {
            if (Stage(type.Namespace) is not { } from) continue;
            foreach (var used in References(type))
            {
                string? problem = Stage(used.Namespace) is { } to
                    ? to == from || Allowed[from].Contains(to) ? null : $"{from} may not use {to}"
                    : Forbidden.Any(f => used.Namespace is { } ns && (ns == f || ns.StartsWith(f + ".", StringComparison.Ordinal)))
                        || used == typeof(Console) ? "the library may not use it" : null;
                if (problem is not null && seen.Add($"{Name(type)} -> {Name(used)}"))
                    yield return $"{Name(type)} -> {Name(used)} ({problem})";
            }
        }
    }

    /// <summary>The stage of a library namespace, or null for a namespace outside the library.</summary>
    static string? Stage(string? ns) =>
        ns == Library ? "" : ns is not null && ns.StartsWith(Library + ".", StringComparison.Ordinal) ? ns[(Library.Length + 1)..].Split('.')[0] : null;

    static string Name(Type type) => (type.DeclaringType is { } outer ? Name(outer) + "+" : type.Namespace + ".") + type.Name;

    static IEnumerable<Type> References(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var direct = new List<Type?> { type.BaseType };
        direct.AddRange(type.GetInterfaces());
        direct.AddRange(type.GetCustomAttributesData().Select(a => a.AttributeType));
        direct.AddRange(type.GetFields(all).Select(f => f.FieldType));
        direct.AddRange(type.GetProperties(all).Select(p => p.PropertyType));
        direct.AddRange(type.GetEvents(all).Select(e => e.EventHandlerType));
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method is MethodInfo info) direct.Add(info.ReturnType);
            direct.AddRange(method.GetParameters().Select(p => p.ParameterType));
            direct.AddRange(method.GetCustomAttributesData().Select(a => a.AttributeType));
            if (method.GetMethodBody() is not { } body) continue;
            direct.AddRange(body.LocalVariables.Select(l => l.LocalType));
            direct.AddRange(InstructionOperands(method, body));
        }
        return direct.OfType<Type>().SelectMany(Flatten);
    }

    /// <summary>A type with its element and generic argument types, without generic parameters.</summary>
    static IEnumerable<Type> Flatten(Type type)
    {
        if (type.HasElementType) return Flatten(type.GetElementType()!);
        if (type.IsGenericParameter) return [];
        if (!type.IsGenericType || type.IsGenericTypeDefinition) return [type];
        return type.GetGenericArguments().SelectMany(Flatten).Prepend(type.GetGenericTypeDefinition());
    }

    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The types, and the declaring and signature types of the methods and fields, that a method's IL names.</summary>
    static IEnumerable<Type> InstructionOperands(MethodBase method, MethodBody body)
    {
        var il = body.GetILAsByteArray() ?? [];
        var typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var code = OpCodesByValue[value];
            int size = code.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (code.OperandType is OperandType.InlineType or OperandType.InlineTok or OperandType.InlineMethod or OperandType.InlineField)
            {
                var member = method.Module.ResolveMember(BitConverter.ToInt32(il, i), typeArguments, methodArguments);
                switch (member)
                {
                    case Type t: yield return t; break;
                    case FieldInfo f:
                        yield return f.DeclaringType!;
                        yield return f.FieldType;
                        break;
                    case MethodBase m:
                        yield return m.DeclaringType!;
                        if (m is MethodInfo mi) yield return mi.ReturnType;
                        foreach (var p in m.GetParameters()) yield return p.ParameterType;
                        break;
                }
            }
            i += size;
        }
    }
}
