; Exception escalation and I/O breakpoints: a contributory fault while
; delivering a contributory fault becomes #DF(0); a benign fault followed by
; a contributory one is handled serially (SDM vol. 3 §6.15, table 6-5); an
; I/O breakpoint with CR4.DE traps after the IN (§17.2.5). Needs a P6.
%include "harness.inc"

test_main:
    mov esi, s_hello
    call print

    ; Vector 13's gate not present: delivering a #GP raises #NP -> #DF.
    and byte [IDT_BASE + 13 * 8 + 5], 0x7F
    BEGIN_EXPECT
    xor ax, ax
    mov ss, ax
    END_EXPECT 8, 0, "#GP while #GP's gate is not present: #DF(0)"
    or byte [IDT_BASE + 13 * 8 + 5], 0x80
    mov ax, SEL_DATA32
    mov ss, ax

    ; Vector 6's gate not present: #UD (benign) then #NP: handled serially.
    and byte [IDT_BASE + 6 * 8 + 5], 0x7F
    BEGIN_EXPECT
    ud2
    END_EXPECT 11, 6 * 8 + 2 + 1, "#UD with its gate not present: #NP(vector*8+2+EXT)"
    or byte [IDT_BASE + 6 * 8 + 5], 0x80

    ; I/O breakpoint on port 0x80 with CR4.DE.
    mov eax, cr4
    or eax, 1 << 3
    mov cr4, eax
    mov eax, 0x80
    mov dr2, eax
    mov eax, (1 << 4) | (0b0010 << 24)   ; L2, RW2=10 (I/O), LEN2=00
    mov dr7, eax
    BEGIN_EXPECT
    in al, 0x80
after_in:
    nop
    END_EXPECT 1, NO_FAULT, "I/O breakpoint on port 0x80 raises #DB"
    cmp dword [frame], after_in
    CHECK "the I/O breakpoint traps after the IN"
    mov eax, dr6
    and eax, 0xF
    cmp eax, 4
    CHECK "DR6.B2 reports it"
    xor eax, eax
    mov dr7, eax

    BEGIN_EXPECT
    mov eax, dr4
    END_EXPECT 6, NO_FAULT, "DR4 with CR4.DE: #UD"
    jmp finish

s_hello: db "pm_faults: protected mode entered", 10, 0

%include "rom_end.inc"
