; Privilege levels: interrupts and exceptions through the IDT with the
; TSS stack switch, ring 3 entered by IRET, privileged and IOPL-sensitive
; instructions at CPL 3, gate DPL checks, a call gate with parameter copy
; and RETF back to the outer level (SDM vol. 3 §5.5-5.9, §6.12).
%include "harness.inc"

CALL_GATE equ 0xA0

test_main:
    mov esi, s_hello
    call print

    BEGIN_EXPECT
    int 0x30
    END_EXPECT 0x30, NO_FAULT, "INT 0x30 at ring 0 reaches its gate"
    cmp dword [frame + 4], SEL_CODE32
    CHECK "same-level interrupt pushes CS"

    BEGIN_EXPECT
    TO_RING3 r3_int
    END_EXPECT 0x30, NO_FAULT, "INT 0x30 from ring 3"
    cmp dword [frame + 4], SEL_CODE3
    CHECK "frame holds the ring-3 CS"
    cmp dword [frame + 16], SEL_DATA3
    CHECK "frame holds the ring-3 SS"
    cmp dword [frame + 12], STACK3_TOP
    CHECK "frame holds the ring-3 ESP"
    mov eax, [frame_esp]
    add eax, 20
    cmp eax, STACK0_TOP
    CHECK "handler runs on the TSS ring-0 stack"

    BEGIN_EXPECT
    TO_RING3 r3_cli
    END_EXPECT 13, 0, "CLI at CPL 3 with IOPL 0: #GP(0)"

    BEGIN_EXPECT
    TO_RING3 r3_hlt
    END_EXPECT 13, 0, "HLT at CPL 3: #GP(0)"

    BEGIN_EXPECT
    TO_RING3 r3_in
    END_EXPECT 13, 0, "IN at CPL 3 without I/O permission: #GP(0)"

    BEGIN_EXPECT
    TO_RING3 r3_mov_cr0
    END_EXPECT 13, 0, "MOV CR0 at CPL 3: #GP(0)"

    BEGIN_EXPECT
    TO_RING3 r3_load_ds0
    END_EXPECT 13, SEL_DATA32, "DPL 0 data into DS at CPL 3: #GP(sel)"

    ; Vector 0x31 gets a DPL 0 gate: INT 0x31 from ring 3 faults.
    mov byte [IDT_BASE + 0x31 * 8 + 5], 0x8E
    BEGIN_EXPECT
    TO_RING3 r3_int31
    END_EXPECT 13, 0x31 * 8 + 2, "INT through a DPL 0 gate at CPL 3: #GP(vec*8+2)"

    ; A 32-bit call gate, DPL 3, 2 parameters, to gate_target at ring 0.
    mov eax, gate_target
    mov word [GDT_BASE + CALL_GATE], ax
    mov word [GDT_BASE + CALL_GATE + 2], SEL_CODE32
    mov word [GDT_BASE + CALL_GATE + 4], 0xEC02     ; P, DPL 3, call gate32, 2 params
    shr eax, 16
    mov word [GDT_BASE + CALL_GATE + 6], ax
    mov dword [scratch], 0
    BEGIN_EXPECT
    TO_RING3 r3_call_gate
    END_EXPECT 0x30, NO_FAULT, "call gate to ring 0 and RETF back to ring 3"
    cmp dword [scratch], 0x2222
    CHECK "call gate copied parameter 0"
    cmp dword [scratch + 4], 0x1111
    CHECK "call gate copied parameter 1"
    cmp dword [scratch + 8], SEL_CODE3
    CHECK "call gate pushed the caller's CS"
    cmp dword [scratch + 12], SEL_DATA3
    CHECK "call gate pushed the caller's SS"
    cmp dword [scratch + 16], 0
    CHECK "gate target ran at CPL 0 (CS RPL 0)"
    cmp dword [scratch + 20], STACK3_TOP
    CHECK "RETF 8 restored the ring-3 ESP"

    jmp finish

gate_target:
    ; Ring 0 through the gate: [esp]=EIP [esp+4]=CS [esp+8]=param0
    ; [esp+12]=param1 [esp+16]=ESP [esp+20]=SS.
    mov eax, [esp + 8]
    mov [scratch], eax
    mov eax, [esp + 12]
    mov [scratch + 4], eax
    mov eax, [esp + 4]
    mov [scratch + 8], eax
    mov eax, [esp + 20]
    mov [scratch + 12], eax
    mov ax, cs
    and eax, 3
    mov [scratch + 16], eax
    retf 8

; Ring-3 code.
r3_int:
    mov ax, SEL_DATA3
    mov ds, ax
    int 0x30
r3_cli:
    cli
    int 0x30
r3_hlt:
    hlt
    int 0x30
r3_in:
    in al, 0x80
    int 0x30
r3_mov_cr0:
    mov eax, cr0
    int 0x30
r3_load_ds0:
    mov ax, SEL_DATA32
    mov ds, ax
    int 0x30
r3_int31:
    int 0x31
    int 0x30
r3_call_gate:
    mov ax, SEL_DATA3
    mov ds, ax
    push dword 0x1111
    push dword 0x2222
    call CALL_GATE | 3:0
    mov [scratch + 20], esp
    int 0x30

s_hello: db "pm_privilege: protected mode entered", 10, 0

%include "rom_end.inc"
